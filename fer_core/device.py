"""Which torch device a command runs on: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

import torch

from fer_core.errors import UserError


def pick_device(requested: str = "auto", local_rank: int = 0) -> torch.device:
    """``cuda`` means this process's GPU (``local_rank`` under torchrun); CUDA asked for but absent is an error."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {requested}: CUDA is not available on this machine; use --device cpu")
    if requested == "cuda":
        return torch.device("cuda", local_rank)
    try:
        return torch.device(requested)
    except RuntimeError:
        raise UserError(f"--device {requested!r}: expected auto, cpu, cuda or cuda:N") from None
