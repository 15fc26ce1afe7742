"""A finished speech run as a zoo entry: the weights it is evaluated with and what the manifest records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fer_core import artifact, zoo
from fer_core.checkpoint import load_checkpoint

BRANCH = "audio"


def export_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    run_dir = Path(run_dir)
    saved, metrics = zoo.read_finished_run(run_dir, "speech")
    cfg = saved["config"]
    ckpt = load_checkpoint(run_dir / f"{cfg['eval']['checkpoint']}.pt", backbone=cfg["model"]["name"],
                           num_classes=saved["num_classes"])
    fields = {
        "branch": BRANCH, "label_space": tuple(saved["label_space"]), "temperature": metrics["temperature"],
        "fingerprint": artifact.load_run(run_dir, metrics["calibration_split"]).fingerprint(),
        "config": {k: cfg[k] for k in ("data", "features", "model", "eval")},
        "metrics": zoo.metrics_summary(metrics), "recipe": cfg.get("recipe", ""), "command": saved["command"],
    }
    return dict(ckpt["model"]), fields
