"""A finished face run as a zoo entry (its best weights as tensors and what the manifest records), a published
face model read with other test-time views as an entry of its own, and a published face model as a run folder
again (to evaluate it, e.g. as a distillation teacher's member)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fer_core import atomic, zoo
from fer_core.artifact import Predictions
from fer_core.calibration import Calibrator
from fer_core.checkpoint import load_checkpoint
from fer_core.conformal import zoo_sets
from fer_core.errors import UserError
from fer_core.evaluate import FER2013, SplitLogits, fit_calibration
from fer_core.report import build_metrics
from fer_face.config import list_recipes, load_recipe, with_defaults
from fer_face.inference import predict_logits, view_set
from fer_face.lineage import published_epochs
from fer_face.predict import FaceModel

BRANCH = "face"


def record(run_dir: str | Path) -> dict[str, Any]:
    """The manifest fields of an evaluated face run (everything but its weights)."""
    run_dir = Path(run_dir)
    saved, metrics = zoo.read_finished_run(run_dir, "face")
    cfg = saved["config"]
    return {
        "branch": BRANCH, "label_space": tuple(metrics["label_space"]), **zoo.evaluation_fields(run_dir, metrics),
        "config": {"model": {**cfg["model"], "pretrained": False}, "eval": cfg["eval"]},
        "recipe": cfg.get("recipe", ""), "command": saved["command"],
    }


def export_run(run_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict of ``best.pt``, manifest fields) of an evaluated face run."""
    fields = record(run_dir)
    ckpt = load_checkpoint(Path(run_dir) / "best.pt", backbone=fields["config"]["model"]["backbone"],
                           num_classes=len(fields["label_space"]))
    return dict(ckpt["model"]), fields


def with_views(entry: zoo.ZooModel, manifest: zoo.Manifest, ds, views: str) -> dict[str, Any]:
    """Manifest fields of ``entry``'s weights read with the view set ``views`` (``VIEW_SETS``): a temperature fit on
    PublicTest with those views (whatever follows ``entry``'s temperature was fit on its own views' probabilities),
    the fingerprint of those PublicTest predictions (a fusion fit on the other views never applies to it) and the
    PrivateTest metrics."""
    if entry.branch != BRANCH:
        raise UserError(f"{entry.name}: a {entry.branch} model; test-time views are a face model's")
    model = FaceModel.from_zoo(entry, manifest=manifest)
    kw = view_set(views)
    splits = {}
    for split in (FER2013.calibration, FER2013.test):
        x, y = ds.split_arrays(split)
        splits[split] = (ds.split_ids(split), y, predict_logits(model.network, x, device=model.device, **kw))
    ids, y, z = splits[FER2013.calibration]
    temperature, calibration, held_out = fit_calibration(SplitLogits(ids, y, z), "temperature")
    calibrator = Calibrator.from_json(temperature, calibration)
    preds = {split: Predictions(ids=ids, labels=y, logits=z,
                                probs=held_out if split == FER2013.calibration else calibrator.probs(z),
                                label_space=entry.label_space, branch=f"{BRANCH}/{entry.config['model']['backbone']}",
                                modality=BRANCH, dataset=ds.name, split=split, temperature=temperature,
                                calibration=calibration, calibration_split=FER2013.calibration)
             for split, (ids, y, z) in splits.items()}
    metrics = build_metrics(preds[FER2013.test])
    return {"temperature": temperature, "calibration": calibration, "fingerprint": preds[FER2013.calibration].fingerprint(),
            "conformal": zoo_sets(preds[FER2013.calibration], preds[FER2013.test]),
            "config": {**entry.config, "eval": {**entry.config.get("eval", {}), **kw}},
            "metrics": zoo.metrics_summary({**metrics, "train_time_s": entry.metrics.get("train_time_s")})}


def export_to_run(entry: zoo.ZooModel, manifest: zoo.Manifest, out: str | Path) -> Path:
    """Write ``out/best.pt`` (``entry``'s weights as float32) and ``out/config.json`` (its network, views, calibration
    choice and training command): a face run folder that ``fer face evaluate`` scores like any other. Its
    predictions are a new evaluation: a fusion fit on the published entry applies to it only where they are the
    same (fingerprints; float16 weights change them)."""
    if entry.branch != BRANCH:
        raise UserError(f"{entry.name}: a {entry.branch} model; only face models export as a run folder")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: exists and is not an empty folder; give a new folder")
    tensors = zoo.read_tensors(zoo.model_file(manifest, entry))  # the sha256 the manifest records is checked
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    num_classes = len(entry.label_space)
    source = {"model": entry.name, "sha256": entry.sha256, "dtype": entry.dtype}
    meta = {"backbone": entry.config["model"]["backbone"], "num_classes": num_classes,
            "label_space": list(entry.label_space), "epoch": published_epochs(entry) or 0, "exported_from": source}
    config = {**_training_settings(entry), **entry.config, "recipe": entry.recipe}
    out.mkdir(parents=True, exist_ok=True)
    atomic.torch_save({"model": state, "meta": meta}, out / "best.pt")
    atomic.write_json(out / "config.json", {
        "config": config, "command": entry.command, "data": {"source": None}, "num_classes": num_classes,
        "label_space": list(entry.label_space), "exported_from": source})
    return out


def _training_settings(entry: zoo.ZooModel) -> dict[str, Any]:
    """The train and augment sections of ``entry``'s recipe when it is one of ours for the same network (the manifest
    records only the network and its views); else the defaults, which evaluation reads nothing from but the layout."""
    recipe = load_recipe(entry.recipe) if entry.recipe in list_recipes() else None
    if recipe is None or {**recipe["model"], "pretrained": False} != {**entry.config["model"], "pretrained": False}:
        recipe = with_defaults({"model": dict(entry.config["model"])})
    return {"train": recipe["train"], "augment": recipe["augment"]}
