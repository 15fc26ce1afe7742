"""Batched inference on precomputed log-mels, with multi-window test-time averaging."""

from __future__ import annotations

import numpy as np
import torch

from fer_audio.features import crop, window_starts


def crop_positions(crops: int) -> list[float]:
    """Window positions for ``crops`` test-time windows: centre only, or evenly from start to end."""
    return [0.5] if crops <= 1 else np.linspace(0.0, 1.0, crops).tolist()


@torch.no_grad()
def predict_logits(model: torch.nn.Module, feats: torch.Tensor, counts: torch.Tensor, *, frames: int, crops: int = 1,
                   batch_size: int = 128, device: torch.device | str = "cpu") -> np.ndarray:
    """(N, M, Tmax) features + frame counts -> (N, C) float64 logits (mean over the windows)."""
    model.eval()
    device = torch.device(device)
    out = []
    for start in range(0, len(feats), batch_size):
        f = feats[start:start + batch_size].to(device)
        c = counts[start:start + batch_size].to(device)
        total = None
        for pos in crop_positions(crops):
            logits = model(crop(f, c, frames, window_starts(c, frames, pos))).float()
            total = logits if total is None else total + logits
        out.append(total / len(crop_positions(crops)))
    if not out:
        return np.zeros((0, 0))
    return torch.cat(out).cpu().double().numpy()
