"""Checkpoints are plain dicts of tensors and primitives, loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path

from fer_core.errors import UserError
from fer_core.weights_file import load_weights_file


def load_checkpoint(path: str | Path, *, backbone: str | None = None, num_classes: int | None = None) -> dict:
    path = Path(path)
    ckpt = load_weights_file(path, "checkpoint")
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    if not isinstance(ckpt, dict) or "model" not in ckpt or not meta:
        raise UserError(f"{path}: not a fer checkpoint (missing 'model'/'meta')")
    if backbone is not None and meta.get("backbone") != backbone:
        raise UserError(f"{path}: checkpoint is for backbone {meta.get('backbone')!r}, not {backbone!r}")
    if num_classes is not None and meta.get("num_classes") != num_classes:
        raise UserError(f"{path}: checkpoint has {meta.get('num_classes')} classes, expected {num_classes}")
    return ckpt
