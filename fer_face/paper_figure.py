"""The paper's Figure 6 redrawn from our runs: training loss per epoch, one line per backbone, one panel per recipe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from fer_core.atomic import atomic_path

FIGURE_FILE = "paper-figure6.png"


def read_history(run_dir: Path) -> list[dict]:
    return json.loads((Path(run_dir) / "history.json").read_text())


def plot_loss_curves(panels: Mapping[str, Mapping[str, list[dict]]], path: str | Path) -> None:
    """``panels``: panel title -> backbone -> history rows (``epoch``, ``train_loss``). A backbone keeps its colour
    across panels; panels share the loss axis so the recipes compare at a glance. Empty panels are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {title: curves for title, curves in panels.items() if curves}
    if not panels:
        raise ValueError("no training curves to plot")
    backbones = sorted({b for curves in panels.values() for b in curves})
    colours = {b: f"C{i}" for i, b in enumerate(backbones)}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.9), sharey=True, squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items()):
        for backbone, history in sorted(curves.items()):
            ax.plot([h["epoch"] for h in history], [h["train_loss"] for h in history], color=colours[backbone],
                    label=backbone)
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("training loss")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
