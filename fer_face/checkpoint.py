"""Checkpoints are plain dicts of tensors and primitives, loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path

import torch

from fer_core.errors import UserError


def load_checkpoint(path: str | Path, *, backbone: str | None = None, num_classes: int | None = None) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused, truncated file, not a torch file
        raise UserError(f"{path}: not a loadable checkpoint ({e.__class__.__name__}: {str(e)[:100]})") from None
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    if "model" not in ckpt or not meta:
        raise UserError(f"{path}: not a fer checkpoint (missing 'model'/'meta')")
    if backbone is not None and meta.get("backbone") != backbone:
        raise UserError(f"{path}: checkpoint is for backbone {meta.get('backbone')!r}, not {backbone!r}")
    if num_classes is not None and meta.get("num_classes") != num_classes:
        raise UserError(f"{path}: checkpoint has {meta.get('num_classes')} classes, expected {num_classes}")
    return ckpt
