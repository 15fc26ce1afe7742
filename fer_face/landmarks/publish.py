"""A finished landmark run as a zoo entry: standardisation + classifier tensors and what the manifest records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fer_core import artifact, zoo
from fer_face.landmarks.model import MODEL_FILE, LandmarkModel

BRANCH = "landmarks"


def export_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    run_dir = Path(run_dir)
    saved, metrics = zoo.read_finished_run(run_dir, "landmark")
    model = LandmarkModel.load(run_dir / MODEL_FILE)
    fields = {
        "branch": BRANCH, "label_space": tuple(model.label_space), "temperature": metrics["temperature"],
        "fingerprint": artifact.load_run(run_dir, metrics["calibration_split"]).fingerprint(),
        "config": model.config(), "metrics": zoo.metrics_summary(metrics),
        "recipe": saved.get("config", {}).get("recipe", ""), "command": saved["command"],
    }
    return model.tensors(), fields
