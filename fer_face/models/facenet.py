"""Backbone + Dense-Dense head on 1-channel faces, with the input-resolution levers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fer_face.models.head import DenseHead


class FaceNet(nn.Module):
    """Takes normalised (B, 1, 48, 48) faces; upsamples internally to ``input_size`` if it differs."""

    def __init__(self, backbone: nn.Module, num_classes: int, input_size: int = 48, head_hidden: int = 512,
                 head_activation: str = "relu", head_dropout: float = 0.3):
        super().__init__()
        self.backbone = backbone
        self.input_size = input_size
        self.head = DenseHead(backbone.num_features, num_classes, head_hidden, head_activation, head_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return self.head(self.backbone(x))


def set_stem_stride(backbone: nn.Module, stride: int) -> None:
    """Reduced-stride stem: at 48 px a stride-32 network ends on a 2x2 map; stride 1 in the stem gives 3x3."""
    stem = getattr(backbone, "conv_stem", None)
    if not isinstance(stem, nn.Conv2d):
        raise ValueError(f"{type(backbone).__name__} has no conv_stem to change the stride of")
    stem.stride = (stride, stride)
