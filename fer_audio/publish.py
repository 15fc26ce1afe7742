"""A finished speech run as a zoo entry: the weights it is evaluated with and what the manifest records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fer_core import zoo
from fer_core.checkpoint import load_checkpoint

BRANCH = "audio"


def record(run_dir: str | Path) -> dict[str, Any]:
    """The manifest fields of an evaluated speech run (everything but its weights)."""
    run_dir = Path(run_dir)
    saved, metrics = zoo.read_finished_run(run_dir, "speech")
    cfg = saved["config"]
    return {
        "branch": BRANCH, "label_space": tuple(saved["label_space"]), **zoo.evaluation_fields(run_dir, metrics),
        "config": {k: cfg[k] for k in ("data", "features", "model", "eval")},
        "recipe": cfg.get("recipe", ""), "command": saved["command"],
    }


def export_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    fields = record(run_dir)
    cfg = fields["config"]
    ckpt = load_checkpoint(Path(run_dir) / f"{cfg['eval']['checkpoint']}.pt", backbone=cfg["model"]["name"],
                           num_classes=len(fields["label_space"]))
    return dict(ckpt["model"]), fields
