"""Where a run's weights came from: warm restarts (``train.init_from``) chain runs together.

A parent is a checkpoint (``best.pt`` of a run) or a published face model, written ``zoo:<name>``: fine-tuning
the shipped model on one's own data starts from its sha256-checked weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from fer_core import zoo
from fer_core.checkpoint import load_checkpoint
from fer_core.errors import UserError

PUBLISHED = "zoo:"  # train.init_from prefix of a published face model
BRANCH = "face"


def published_parent(init_from: str) -> str | None:
    """The published model a ``train.init_from`` names (``zoo:<name>``), else None (a checkpoint path)."""
    return init_from[len(PUBLISHED):] if init_from.startswith(PUBLISHED) else None


def _published_entry(name: str, manifest: zoo.Manifest) -> zoo.ZooModel:
    entry = _published(name, manifest)
    if entry is None:
        known = ", ".join(manifest.names(BRANCH)) or "none"
        raise UserError(f"train.init_from {PUBLISHED}{name}: no published face model of that name (published: {known})")
    return entry


def load_parent(init_from: str, *, backbone: str, num_classes: int) -> tuple[dict, int | None]:
    """The weights a warm start begins from (a dict with ``model`` and ``meta``, as a checkpoint) and the epochs of
    training behind them (None: unknown)."""
    name = published_parent(init_from)
    if name is None:
        parent = load_checkpoint(init_from, backbone=backbone, num_classes=num_classes)
        return parent, epochs_behind(parent["meta"], init_from)
    manifest = zoo.load_manifest()
    entry = _published_entry(name, manifest)
    if entry.config["model"]["backbone"] != backbone:
        raise UserError(f"--init-from {name}: the published model is a {entry.config['model']['backbone']!r}, not "
                        f"{backbone!r}; train with its recipe: --recipe {entry.recipe}")
    if len(entry.label_space) != num_classes:
        raise UserError(f"--init-from {name}: the published model has {len(entry.label_space)} classes, "
                        f"this data {num_classes}")
    weights = zoo.read_tensors(zoo.model_file(manifest, entry))
    return {"model": weights, "meta": {"backbone": backbone, "num_classes": num_classes}}, published_epochs(entry)


def _published(name: str, manifest: zoo.Manifest | None = None) -> zoo.ZooModel | None:
    """The published face model ``name`` (None: no longer in the manifest)."""
    return (manifest or zoo.load_manifest()).named(BRANCH, name)


def published_epochs(entry: zoo.ZooModel) -> int | None:
    """Epochs behind a published model's weights, from its run folder's metrics.json when that folder is here
    (a checkout of the repository; relative to the working directory or to the repository the package is in)."""
    for root in (Path.cwd(), zoo.SHIPPED_DIR.parents[1]):
        metrics = _metrics(root / entry.run / "metrics.json")
        if metrics and metrics.get("best_epoch") is not None:
            return int(metrics["best_epoch"]) + int(metrics.get("prior_epochs") or 0)
    return None


def _metrics(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def warm_start_epochs(train_cfg: dict) -> int | None:
    """Epochs behind the weights a warm-restarted run started from (0 for a run from scratch).

    None when the parent checkpoint named in ``train.init_from`` is no longer there to ask.
    """
    parent = train_cfg.get("init_from")
    if not parent:
        return 0
    name = published_parent(parent)
    if name is not None:
        entry = _published(name)
        return None if entry is None else published_epochs(entry)
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
    metrics = _metrics(metrics_path)
    return None if metrics is None else metrics.get("prior_epochs")


def warm_start_command(train_cfg: dict) -> str | None:
    """The command that trained the parent run (from its ``config.json``), so a chain stays reproducible."""
    parent = train_cfg.get("init_from")
    name = published_parent(parent) if parent else None
    if name is not None:
        entry = _published(name)
        return None if entry is None else entry.command
    config = Path(parent).parent / "config.json" if parent else None
    if config is None or not config.is_file():
        return None
    try:
        return json.loads(config.read_text()).get("command")
    except (OSError, ValueError):
        return None
