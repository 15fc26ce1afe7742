"""A finished landmark run as a zoo entry: standardisation + classifier tensors and what the manifest records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fer_core import zoo
from fer_face.landmarks.model import MODEL_FILE, LandmarkModel

BRANCH = "landmarks"


def _model_and_record(run_dir: str | Path) -> tuple[LandmarkModel, dict[str, Any]]:
    run_dir = Path(run_dir)
    saved, metrics = zoo.read_finished_run(run_dir, "landmark")
    model = LandmarkModel.load(run_dir / MODEL_FILE)
    return model, {
        "branch": BRANCH, "label_space": tuple(model.label_space), **zoo.evaluation_fields(run_dir, metrics),
        "config": model.config(), "recipe": saved.get("config", {}).get("recipe", ""), "command": saved["command"],
    }


def record(run_dir: str | Path) -> dict[str, Any]:
    """The manifest fields of an evaluated landmark run (everything but its tensors)."""
    return _model_and_record(run_dir)[1]


def export_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    model, fields = _model_and_record(run_dir)
    return model.tensors(), fields
