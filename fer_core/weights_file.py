"""Loading model files safely: tensors and primitives only (``weights_only=True``), never arbitrary pickles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fer_core.errors import UserError


def load_weights_file(path: str | Path, what: str, missing_hint: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; a missing or unloadable file is a one-line UserError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found{missing_hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused, truncated file, not a torch file
        raise UserError(f"{path}: not a loadable {what} ({e.__class__.__name__}: {str(e)[:100]})") from None
