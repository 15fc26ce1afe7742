"""Optimizer and learning-rate schedule from a recipe's ``[train]`` table (face and audio branches).

Keys read: ``optimizer`` (adamw, adam, sgd), ``lr``, ``weight_decay``, ``scheduler`` (onecycle, cosine,
none), ``warmup_epochs`` and ``epochs``. The schedule is stepped once per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def build_optimizer(model: torch.nn.Module, train_cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    # No weight decay on norms and biases (standard practice for both AdamW and SGD).
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": train_cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    if train_cfg["optimizer"] == "adamw":
        return torch.optim.AdamW(groups, lr=train_cfg["lr"])
    if train_cfg["optimizer"] == "adam":
        return torch.optim.Adam(groups, lr=train_cfg["lr"])
    return torch.optim.SGD(groups, lr=train_cfg["lr"], momentum=0.9, nesterov=True)


def build_scheduler(opt: torch.optim.Optimizer, train_cfg: Mapping[str, Any],
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-batch schedule, or None for ``scheduler = "none"`` (constant ``lr``)."""
    total = train_cfg["epochs"] * steps_per_epoch
    if train_cfg["scheduler"] == "onecycle":
        pct = min(max(train_cfg["warmup_epochs"] / train_cfg["epochs"], 0.01), 0.5)
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=train_cfg["lr"], total_steps=total, pct_start=pct)
    if train_cfg["scheduler"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return None
