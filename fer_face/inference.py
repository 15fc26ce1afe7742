"""Batched inference on uint8 faces, with optional horizontal-flip test-time augmentation."""

from __future__ import annotations

import numpy as np
import torch

from fer_face.augment import to_float


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: np.ndarray | torch.Tensor, *, device: torch.device,
                   batch_size: int = 512, tta_flip: bool = False, channels_last: bool = True,
                   amp: bool = False) -> np.ndarray:
    """(N, 48, 48) uint8 -> (N, C) float64 logits (mean of the original and mirrored view with TTA)."""
    model.eval()
    x_all = torch.as_tensor(np.require(images, requirements=["W"]) if isinstance(images, np.ndarray) else images)
    if x_all.ndim == 3:
        x_all = x_all.unsqueeze(1)
    out = []
    for start in range(0, len(x_all), batch_size):
        xb = x_all[start:start + batch_size].to(device, non_blocking=True)
        xb = to_float(xb)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, enabled=amp):
            logits = model(xb).float()
            if tta_flip:
                logits = (logits + model(torch.flip(xb, dims=[3])).float()) / 2
        out.append(logits)
    if not out:
        return np.zeros((0, 0))
    return torch.cat(out).cpu().double().numpy()
