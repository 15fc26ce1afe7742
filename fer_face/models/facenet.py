"""Backbone + Dense-Dense head on 1-channel faces, with the input-resolution levers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fer_core.errors import UserError
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
    """Reduced-stride stem: at 48 px a stride-32 network ends on a 2x2 map; stride 1 in the stem gives 3x3.

    The stem is ``conv_stem`` in timm's MobileNet/EfficientNet family and ``conv1`` in its ResNets (the first
    convolution of a deep ``conv1`` stem, e.g. ``resnet10t``).
    """
    stem = getattr(backbone, "conv_stem", None)
    if stem is None:
        stem = getattr(backbone, "conv1", None)
        if isinstance(stem, nn.Sequential):
            stem = next((m for m in stem.modules() if isinstance(m, nn.Conv2d)), None)
    if not isinstance(stem, nn.Conv2d):
        raise UserError(f"model.stem_stride: {type(backbone).__name__} has no stem convolution to change the stride "
                        "of; leave model.stem_stride at 2 for this backbone")
    stem.stride = (stride, stride)
