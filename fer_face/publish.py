"""A finished face run as a zoo entry: its best weights as tensors and what the manifest records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fer_core import artifact, zoo
from fer_core.checkpoint import load_checkpoint

BRANCH = "face"


def export_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict of ``best.pt``, manifest fields) of an evaluated face run."""
    run_dir = Path(run_dir)
    saved, metrics = zoo.read_finished_run(run_dir, "face")
    cfg = saved["config"]
    ckpt = load_checkpoint(run_dir / "best.pt", backbone=cfg["model"]["backbone"], num_classes=saved["num_classes"])
    fields = {
        "branch": BRANCH, "label_space": tuple(metrics["label_space"]), "temperature": metrics["temperature"],
        "fingerprint": artifact.load_run(run_dir, metrics["calibration_split"]).fingerprint(),
        "config": {"model": {**cfg["model"], "pretrained": False}, "eval": cfg["eval"]},
        "metrics": zoo.metrics_summary(metrics), "recipe": cfg.get("recipe", ""), "command": saved["command"],
    }
    return dict(ckpt["model"]), fields
