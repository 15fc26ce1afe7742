"""Train a landmark classifier (MLP or logistic regression) and write a complete run directory.

Protocol (as the face branch): fit on Training; pick the epoch (MLP) or C (logistic regression) and fit
the temperature on PublicTest; report PrivateTest. Samples without usable landmarks are left out of
fitting and marked absent in the artifacts.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fer_core import atomic
from fer_core.errors import UserError
from fer_core.versions import versions
from fer_face.data import load_fer2013
from fer_face.landmarks.cache import dataset_landmarks
from fer_face.landmarks.config import MODELS
from fer_face.landmarks.evaluate import CAL_SPLIT, TRAIN_SPLIT, evaluate_run
from fer_face.landmarks.features import feature_names
from fer_face.landmarks.logreg import fit_logreg
from fer_face.landmarks.mlp import train_mlp_ensemble
from fer_face.landmarks.model import MODEL_FILE, LandmarkModel, features_with_mirror

RUN_FILES = (MODEL_FILE, "config.json", "history.json", "metrics.json", "curves.png", "reliability.png", "predictions")


def prepare_run_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory; choose another --out")
    if overwrite:
        for name in RUN_FILES:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        return
    if (out / "metrics.json").is_file():
        raise UserError(f"{out}: holds a finished run (metrics.json); pass --overwrite to replace it or choose another --out")
    if (out / MODEL_FILE).is_file() or (out / "config.json").is_file():
        raise UserError(f"{out}: holds an unfinished run; pass --overwrite to restart it")


def train(cfg: dict[str, Any], kind: str, *, data: str | None, out: str | Path, command: str, workers: int | None = None,
          overwrite: bool = False, progress: bool = True, strict_size: bool = False) -> dict[str, Any]:
    """Train ``kind`` ('mlp' or 'logreg') with ``cfg``; returns the PrivateTest metrics."""
    if kind not in MODELS:
        raise UserError(f"unknown landmark model {kind!r}; choose from {', '.join(MODELS)}")
    out = Path(out)
    prepare_run_dir(out, overwrite)
    ds = load_fer2013(data, strict_size=strict_size, progress=progress)
    for note in ds.notes:
        print(f"note: {note}", file=sys.stderr)
    # extraction forks worker processes: do it before torch starts its thread pools
    lms, lm_info = dataset_landmarks(ds, workers=workers, progress=progress)

    groups = tuple(cfg["features"]["groups"])
    try:
        feature_names(groups)
    except ValueError as e:
        raise UserError(f"features.groups: {e}") from None
    feats, feats_m = features_with_mirror(lms.points, groups, ds.images)
    ok = lms.present & np.isfinite(feats).all(1) & np.isfinite(feats_m).all(1)
    tr, val = ds.mask(TRAIN_SPLIT) & ok, ds.mask(CAL_SPLIT) & ok
    if tr.sum() < 2 or len(np.unique(ds.labels[tr])) < 2:
        raise UserError(f"{ds.source}: fewer than 2 Training samples/classes with usable landmarks; cannot train")
    if not val.any():
        raise UserError(f"{ds.source}: no {CAL_SPLIT} sample with usable landmarks; cannot select or calibrate")
    mean, std = LandmarkModel.fit_standardiser(feats[tr])
    model = LandmarkModel(kind=kind, feature_groups=groups, mean=mean, std=std, label_space=tuple(ds.label_space),
                          tta_mirror=bool(cfg["eval"]["tta_mirror"]),
                          mlp_config=dict(cfg["mlp"]) if kind == "mlp" else {})
    x, xm = model.standardise(feats), model.standardise(feats_m)
    y = ds.labels
    val_mirror = xm[val] if model.tta_mirror else None

    t0 = time.perf_counter()
    if kind == "mlp":
        # one thread: the matrices are small, and on shared cores a second thread mostly spin-waits
        torch.set_num_threads(1)
        net, history, best_epochs = train_mlp_ensemble(
            cfg["mlp"], x[tr], y[tr], x[val], y[val], x_train_mirror=xm[tr], x_val_mirror=val_mirror,
            num_classes=len(ds.label_space), progress=progress)
        model.net = net
        selection = {"by": f"{CAL_SPLIT} accuracy", "epochs": len(history)}
        selection.update({"best_epoch": best_epochs[0]} if len(best_epochs) == 1 else
                         {"members": len(best_epochs), "best_epochs": best_epochs})
    else:
        x_fit, y_fit = x[tr], y[tr]
        if cfg["logreg"]["mirror_augment"]:
            x_fit, y_fit = np.concatenate([x_fit, xm[tr]]), np.concatenate([y_fit, y[tr]])
        weight, bias, history, best_c = fit_logreg(cfg["logreg"], x_fit, y_fit, x[val], y[val], x_val_mirror=val_mirror,
                                                   num_classes=len(ds.label_space))
        model.weight, model.bias = weight, bias
        selection = {"by": f"{CAL_SPLIT} accuracy", "C": best_c}
    train_time = time.perf_counter() - t0

    model.meta = {"selection": selection}
    model.save(out / MODEL_FILE)
    atomic.write_json(out / "history.json", history)
    atomic.write_json(out / "config.json", {
        "branch_kind": "landmarks",
        "model": kind,
        "config": cfg,
        "command": command,
        "data": {"source": ds.source, "dataset": ds.name, "layout": ds.layout, "notes": ds.notes},
        "landmarks": lm_info,
        "selection": selection,
        "n_fit": {TRAIN_SPLIT: int(tr.sum()), CAL_SPLIT: int(val.sum())},
        "num_features": int(x.shape[1]),
        "label_space": list(ds.label_space),
        "train_time_s": round(train_time, 1),
        "versions": versions("sklearn", "skimage", "dlib"),
    })
    return evaluate_run(out, ds, lms, command=command, landmark_info=lm_info, progress=progress)
