"""A finished face run as a zoo entry (its best weights as tensors and what the manifest records), and a published
face model read with other test-time views as an entry of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fer_core import artifact, zoo
from fer_core.artifact import Predictions
from fer_core.calibration import calibrated_probs, fit_temperature
from fer_core.checkpoint import load_checkpoint
from fer_core.errors import UserError
from fer_core.evaluate import FER2013
from fer_core.report import build_metrics
from fer_face.inference import predict_logits, view_set
from fer_face.predict import FaceModel

BRANCH = "face"


def export_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict of ``best.pt``, manifest fields) of an evaluated face run."""
    run_dir = Path(run_dir)
    saved, metrics = zoo.read_finished_run(run_dir, "face")
    cfg = saved["config"]
    ckpt = load_checkpoint(run_dir / "best.pt", backbone=cfg["model"]["backbone"], num_classes=saved["num_classes"])
    fields = {
        "branch": BRANCH, "label_space": tuple(metrics["label_space"]), "temperature": metrics["temperature"],
        "fingerprint": artifact.load_run(run_dir, metrics["calibration_split"]).fingerprint(),
        "config": {"model": {**cfg["model"], "pretrained": False}, "eval": cfg["eval"]},
        "metrics": zoo.metrics_summary(metrics), "recipe": cfg.get("recipe", ""), "command": saved["command"],
    }
    return dict(ckpt["model"]), fields


def with_views(entry: zoo.ZooModel, manifest: zoo.Manifest, ds, views: str) -> dict[str, Any]:
    """Manifest fields of ``entry``'s weights read with the view set ``views`` (``VIEW_SETS``): the temperature
    fit on PublicTest with those views, the fingerprint of those PublicTest predictions (a fusion fit on the
    other views never applies to it) and the PrivateTest metrics."""
    if entry.branch != BRANCH:
        raise UserError(f"{entry.name}: a {entry.branch} model; test-time views are a face model's")
    model = FaceModel.from_zoo(entry, manifest=manifest)
    kw = view_set(views)
    splits = {}
    for split in (FER2013.calibration, FER2013.test):
        x, y = ds.split_arrays(split)
        splits[split] = (ds.split_ids(split), y, predict_logits(model.network, x, device=model.device, **kw))
    temperature = fit_temperature(splits[FER2013.calibration][2], splits[FER2013.calibration][1])
    preds = {split: Predictions(ids=ids, labels=y, logits=z, probs=calibrated_probs(z, temperature),
                                label_space=entry.label_space, branch=f"{BRANCH}/{entry.config['model']['backbone']}",
                                modality=BRANCH, dataset=ds.name, split=split, temperature=temperature,
                                calibration_split=FER2013.calibration)
             for split, (ids, y, z) in splits.items()}
    metrics = build_metrics(preds[FER2013.test])
    return {"temperature": temperature, "fingerprint": preds[FER2013.calibration].fingerprint(),
            "config": {**entry.config, "eval": {**entry.config.get("eval", {}), **kw}},
            "metrics": zoo.metrics_summary({**metrics, "train_time_s": entry.metrics.get("train_time_s")})}
