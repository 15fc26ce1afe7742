"""Batched tensor transforms: uint8 faces -> normalised floats, plus training augmentation.

Everything runs on whole batches on the training device (one affine warp per batch, no per-image
PIL), driven by an explicit generator so resumed runs replay the same augmentation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MEAN, STD = 0.5, 0.5


def to_float(images_u8: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) uint8 -> normalised float32."""
    return (images_u8.float().div_(255.0) - MEAN) / STD


def augment(x: torch.Tensor, cfg: dict, generator: torch.Generator) -> torch.Tensor:
    """Random flip, rotation, scale, translation (one affine warp) and random erasing on a float batch."""
    b, _, h, w = x.shape
    dev = x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(dev, non_blocking=True)

    angle = (rand(b) * 2 - 1) * math.radians(cfg["rotate_deg"])
    scale = 1 + (rand(b) * 2 - 1) * cfg["scale"]
    flip = torch.where(rand(b) < 0.5, -1.0, 1.0) if cfg["hflip"] else torch.ones(b, device=dev)
    shift = (rand(b, 2) * 2 - 1) * (2 * cfg["translate_px"] / w)
    if (angle.abs().sum() + (scale - 1).abs().sum() + shift.abs().sum()) > 0 or cfg["hflip"]:
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
        )
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    p = cfg["erase_prob"]
    if p > 0:
        # One rectangle (10-30 % of the side) per selected image, filled with zeros (the mean).
        side = (rand(b, 2) * 0.2 + 0.1) * torch.tensor([h, w], device=dev)
        corner = rand(b, 2) * (torch.tensor([h, w], device=dev) - side)
        ys = torch.arange(h, device=dev).view(1, h, 1)
        xs = torch.arange(w, device=dev).view(1, 1, w)
        box = (
            (ys >= corner[:, 0].view(b, 1, 1)) & (ys < (corner[:, 0] + side[:, 0]).view(b, 1, 1))
            & (xs >= corner[:, 1].view(b, 1, 1)) & (xs < (corner[:, 1] + side[:, 1]).view(b, 1, 1))
        )
        box &= (rand(b) < p).view(b, 1, 1)
        x = x.masked_fill(box.unsqueeze(1), 0.0)
    return x
