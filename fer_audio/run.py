"""A trained audio run directory: its saved config, actor split and network (for evaluation and prediction)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from fer_core.checkpoint import load_checkpoint
from fer_core.errors import UserError
from fer_audio.models import model_from_config
from fer_audio.splits import ActorSplit


def load_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: not an audio run directory (no config.json)")
    saved = json.loads(path.read_text())
    if "split" not in saved or "features" not in saved.get("config", {}):
        raise UserError(f"{run_dir}: config.json is not from 'fer audio train'")
    return saved


def load_run_model(run_dir: Path, device: torch.device, which: str = "best") -> tuple[torch.nn.Module, dict]:
    saved = load_run_config(run_dir)
    cfg = saved["config"]
    ckpt = load_checkpoint(Path(run_dir) / f"{which}.pt", backbone=cfg["model"]["name"],
                           num_classes=saved["num_classes"])
    model = model_from_config(cfg, saved["num_classes"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), {**saved, "checkpoint_meta": ckpt["meta"]}


def saved_split(saved: dict[str, Any]) -> ActorSplit:
    s = saved["split"]
    return ActorSplit(s["name"], tuple(s["train"]), tuple(s["validation"]), tuple(s["test"]))
