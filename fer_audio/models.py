"""Spectrogram classifiers, by name: the compact CNNs below, or ``timm:<model>`` for any timm backbone
(created with one input channel, no pretrained weights)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from fer_core.errors import UserError


class ConvBlock(nn.Sequential):
    """(conv3x3 -> BN -> ReLU) x convs, then 2x2 max-pool."""

    def __init__(self, cin: int, cout: int, convs: int = 1, pool: bool = True):
        layers: list[nn.Module] = []
        for k in range(convs):
            layers += [nn.Conv2d(cin if k == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True)]
        if pool:
            layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)


class SpectrogramCNN(nn.Module):
    """Log-mel (B, M, T) -> logits. Conv blocks over (mel, time); mean over mel, then mean+max over time."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 128), convs: int = 1,
                 dropout: float = 0.3):
        super().__init__()
        blocks, cin = [], 1
        for w in widths:
            blocks.append(ConvBlock(cin, w, convs))
            cin = w
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x.unsqueeze(1)).mean(2)  # (B, C, T')
        h = torch.cat([h.mean(-1), h.amax(-1)], dim=1)
        return self.classifier(self.dropout(h))


class TemporalCNN(nn.Module):
    """Mel bands as channels: dilated 1-D convolutions over time (x-vector style), then statistics pooling
    (mean and standard deviation over time) and a small classifier. Cheap on CPU: every layer is one GEMM."""

    def __init__(self, num_classes: int, n_mels: int = 64, width: int = 128, embed: int = 128, dropout: float = 0.3):
        super().__init__()

        def layer(cin: int, cout: int, k: int, d: int) -> list[nn.Module]:
            return [nn.Conv1d(cin, cout, k, dilation=d, padding=d * (k - 1) // 2, bias=False), nn.BatchNorm1d(cout),
                    nn.ReLU(inplace=True)]

        self.frames = nn.Sequential(*layer(n_mels, width, 5, 1), *layer(width, width, 3, 2), *layer(width, width, 3, 3),
                                    *layer(width, 2 * width, 1, 1))
        self.embed = nn.Sequential(nn.Linear(4 * width, embed, bias=False), nn.BatchNorm1d(embed), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embed, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.frames(x)  # (B, 2W, T)
        stats = torch.cat([h.mean(-1), h.std(-1)], dim=1)
        return self.classifier(self.dropout(self.embed(stats)))


class TimmSpectrogram(nn.Module):
    def __init__(self, name: str, num_classes: int, dropout: float):
        super().__init__()
        import timm

        try:
            self.net = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=1, drop_rate=dropout)
        except RuntimeError as e:  # timm: "Unknown model (...)"
            raise UserError(f"model timm:{name}: {e}; list names with python -c 'import timm; print(timm.list_models())'") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.unsqueeze(1))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable[[int, float, int], nn.Module]  # (classes, dropout, mel bands)


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec for spec in (
        ModelSpec("cnn-tiny", "4 blocks of 1 conv, widths 8-16-32-64 (~25k parameters): smoke tests",
                  lambda c, d, m: SpectrogramCNN(c, (8, 16, 32, 64), 1, d)),
        ModelSpec("cnn-small", "4 blocks of 1 conv, widths 16-32-64-128 (~100k parameters)",
                  lambda c, d, m: SpectrogramCNN(c, (16, 32, 64, 128), 1, d)),
        ModelSpec("cnn", "4 blocks of 2 convs, widths 16-32-64-128 (~290k parameters): the reference model",
                  lambda c, d, m: SpectrogramCNN(c, (16, 32, 64, 128), 2, d)),
        ModelSpec("tdnn", "dilated 1-D CNN over time, statistics pooling (~200k parameters at 64 mels)",
                  lambda c, d, m: TemporalCNN(c, m, 128, 128, d)),
        ModelSpec("tdnn-wide", "dilated 1-D CNN, 256 channels (~700k parameters at 64 mels)",
                  lambda c, d, m: TemporalCNN(c, m, 256, 256, d)),
        ModelSpec("cnn-wide", "4 blocks of 2 convs, widths 32-64-128-256 (~1.2M parameters)",
                  lambda c, d, m: SpectrogramCNN(c, (32, 64, 128, 256), 2, d)),
    )
}


def create_model(name: str, num_classes: int, dropout: float = 0.3, n_mels: int = 64) -> nn.Module:
    if name.startswith("timm:"):
        return TimmSpectrogram(name.split(":", 1)[1], num_classes, dropout)
    check_model_name(name)
    return REGISTRY[name].build(num_classes, dropout, n_mels)


def check_model_name(name: str) -> None:
    if not name.startswith("timm:") and name not in REGISTRY:
        raise UserError(f"unknown audio model {name!r}; choose one of {', '.join(REGISTRY)} or timm:<name>")


def model_from_config(cfg: dict[str, Any], num_classes: int) -> nn.Module:
    """The network a speech recipe describes (``[model]`` name and dropout, ``[features]`` n_mels)."""
    return create_model(cfg["model"]["name"], num_classes, cfg["model"]["dropout"], cfg["features"]["n_mels"])
