"""PNG figures written next to results: training curves (paper Fig. 6) and reliability diagrams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fer_core.atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    plt = _pyplot()
    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.plot(ep, [h["train_loss"] for h in history], label="train")
    a1.plot(ep, [h["val_loss"] for h in history], label="validation")
    a1.set(xlabel="epoch", ylabel="loss", title="loss")
    a2.plot(ep, [h["train_acc"] for h in history], label="train")
    a2.plot(ep, [h["val_acc"] for h in history], label="validation")
    a2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_reliability(metrics: dict[str, Any], path: str | Path) -> None:
    """Reliability diagram before/after calibration from a metrics.json dict."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    curves = [("calibrated", metrics["reliability"], metrics["ece"])]
    if metrics.get("uncalibrated"):
        curves.insert(0, ("uncalibrated", metrics["uncalibrated"]["reliability"], metrics["uncalibrated"]["ece"]))
    for name, rel, e in curves:
        conf = np.asarray([np.nan if v is None else v for v in rel["confidence"]], float)
        acc = np.asarray([np.nan if v is None else v for v in rel["accuracy"]], float)
        ok = np.isfinite(conf)
        ax.plot(conf[ok], acc[ok], "o-", label=f"{name} (ECE {e:.1%})")
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
           title=f"{metrics.get('branch', '')} on {metrics.get('split', '')}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
