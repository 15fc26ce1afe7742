"""Where a run's weights came from: warm restarts (``train.init_from``) chain runs together."""

from __future__ import annotations

import json
from pathlib import Path

from fer_core.checkpoint import load_checkpoint


def warm_start_epochs(train_cfg: dict) -> int | None:
    """Epochs behind the weights a warm-restarted run started from (0 for a run from scratch).

    None when the parent checkpoint named in ``train.init_from`` is no longer there to ask.
    """
    parent = train_cfg.get("init_from")
    if not parent:
        return 0
    if not Path(parent).is_file():
        return None
    return epochs_behind(load_checkpoint(parent)["meta"], parent)


def epochs_behind(meta: dict, checkpoint: str | Path | None = None) -> int:
    """Epochs of training behind a checkpoint's weights, counting every warm-restarted ancestor.

    The run's ``metrics.json`` (next to the checkpoint) is asked first: every evaluation re-derives it from the
    whole chain, whereas the checkpoint's ``prior_epochs`` is written once when training starts and stays short
    if an ancestor's lineage was incomplete then (or is missing in checkpoints older than the field).
    """
    prior = _recorded_prior_epochs(Path(checkpoint).parent / "metrics.json") if checkpoint is not None else None
    if prior is None:
        prior = meta.get("prior_epochs")
    return int(meta["epoch"]) + int(prior or 0)


def _recorded_prior_epochs(metrics_path: Path) -> int | None:
    try:
        return json.loads(metrics_path.read_text()).get("prior_epochs")
    except (OSError, ValueError, AttributeError):
        return None


def warm_start_command(train_cfg: dict) -> str | None:
    """The command that trained the parent run (from its ``config.json``), so a chain stays reproducible."""
    parent = train_cfg.get("init_from")
    config = Path(parent).parent / "config.json" if parent else None
    if config is None or not config.is_file():
        return None
    try:
        return json.loads(config.read_text()).get("command")
    except (OSError, ValueError):
        return None
