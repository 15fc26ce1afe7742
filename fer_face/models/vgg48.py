"""A VGG-style network native to 48 px faces, registered with timm as ``vgg48``.

timm's own VGGs are built for 224 px: five pools leave a 1x1 map at 48 px, and their 4096-wide 7x7 ``pre_logits``
adds ~120M parameters whatever ``num_classes`` is. This is the FER2013 VGG variant (Khaireddin & Chen, 2021):
four stages of two 3x3 conv-BN-ReLU layers (64, 128, 256, 512 channels), each followed by a 2x2 max-pool, which
ends on a 3x3 map at 48 px. No residual or depthwise layers: a family apart from the other registered backbones,
which is what an ensemble member is for.
"""

from __future__ import annotations

import torch
from torch import nn
from timm.layers import SelectAdaptivePool2d
from timm.models import build_model_with_cfg, register_model

from fer_core.errors import UserError


def _conv_bn_relu(in_chs: int, out_chs: int) -> list[nn.Module]:
    return [nn.Conv2d(in_chs, out_chs, 3, padding=1, bias=False), nn.BatchNorm2d(out_chs), nn.ReLU(inplace=True)]


class Vgg48(nn.Module):
    def __init__(self, in_chans: int = 1, num_classes: int = 7, widths: tuple[int, ...] = (64, 128, 256, 512),
                 convs_per_stage: int = 2, drop_rate: float = 0.0, global_pool: str = "avg",
                 drop_path_rate: float = 0.0):
        super().__init__()
        if drop_path_rate:
            raise UserError("model.drop_path_rate: the vgg48 family has no residual branches to drop; "
                            "add --set model.drop_path_rate=0")
        self.num_features = self.head_hidden_size = widths[-1]
        layers: list[nn.Module] = []
        self.feature_info = []
        chs, reduction = in_chans, 1
        for width in widths:
            for _ in range(convs_per_stage):
                layers += _conv_bn_relu(chs, width)
                chs = width
            layers.append(nn.MaxPool2d(2))
            reduction *= 2
            self.feature_info.append(dict(num_chs=width, reduction=reduction, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.global_pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=True)
        self.head_drop = nn.Dropout(drop_rate)
        self.reset_classifier(num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=True)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.global_pool(x))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _create_vgg48(variant: str, pretrained: bool, widths: tuple[int, ...], convs_per_stage: int = 2,
                  **kwargs) -> Vgg48:
    # No hosted weights exist; with pretrained=True timm loads the local file given as pretrained_cfg_overlay.
    cfg = dict(num_classes=7, input_size=(1, 48, 48), pool_size=(3, 3), first_conv="features.0", classifier="fc")
    cfg.update(kwargs.pop("pretrained_cfg", None) or {})
    return build_model_with_cfg(Vgg48, variant, pretrained, pretrained_cfg=cfg, widths=widths,
                               convs_per_stage=convs_per_stage, **kwargs)


@register_model
def vgg48(pretrained: bool = False, **kwargs) -> Vgg48:
    """Khaireddin & Chen's widths, 4.7M parameters."""
    return _create_vgg48("vgg48", pretrained, (64, 128, 256, 512), **kwargs)


@register_model
def vgg48_slim(pretrained: bool = False, **kwargs) -> Vgg48:
    """Three quarters of the width, 2.6M parameters."""
    return _create_vgg48("vgg48_slim", pretrained, (48, 96, 192, 384), **kwargs)


@register_model
def vgg48_half(pretrained: bool = False, **kwargs) -> Vgg48:
    """Half the width, 1.2M parameters."""
    return _create_vgg48("vgg48_half", pretrained, (32, 64, 128, 256), **kwargs)


@register_model
def vgg48_fast(pretrained: bool = False, **kwargs) -> Vgg48:
    """vgg48_half with a 16-channel first stage (the one at full 48x48 resolution, where the memory-bound batch norm,
    activation and pooling dominate a CPU's training step), 1.2M parameters: the fixed-time-budget net."""
    return _create_vgg48("vgg48_fast", pretrained, (16, 64, 128, 256), **kwargs)


@register_model
def vgg48_tiny(pretrained: bool = False, **kwargs) -> Vgg48:
    """One convolution per stage at a quarter of the width, 0.1M parameters: smoke runs and tests."""
    return _create_vgg48("vgg48_tiny", pretrained, (16, 32, 64, 128), convs_per_stage=1, **kwargs)
