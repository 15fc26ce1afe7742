"""The paper's classifier: two fully-connected (Dense) layers after global pooling."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "hardswish": nn.Hardswish}


class DenseHead(nn.Sequential):
    def __init__(self, in_features: int, num_classes: int, hidden: int = 512, activation: str = "relu",
                 dropout: float = 0.3):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown head activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        super().__init__(
            nn.Dropout(dropout),
            nn.Linear(in_features, hidden),
            ACTIVATIONS[activation](),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        # Standard init, not timm's classifier init (which scales with 1/sqrt(num_classes) and starts
        # a 7-class problem at loss ~4.9 instead of ln 7 = 1.95).
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self[-1].weight, std=0.01)
