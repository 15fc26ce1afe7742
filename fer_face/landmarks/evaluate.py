"""Evaluate a landmark run: model.pt -> logits -> temperature on PublicTest -> artifacts and metrics.json.

Samples whose landmarks are absent (degenerate predictor output) are written with ``present=False``;
metrics are computed on present samples and ``n_missing`` (plus the reasons) says how many were not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.errors import UserError
from fer_core.evaluate import FER2013, SplitLogits, calibrate, report
from fer_core.report import build_metrics
from fer_core.run_dir import read_history
from fer_face.landmarks.batch import LandmarkSet
from fer_face.landmarks.model import MODEL_FILE, LandmarkModel

TRAIN_SPLIT, CAL_SPLIT, TEST_SPLIT = FER2013.train, FER2013.calibration, FER2013.test


def load_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: not a landmark run directory (no config.json)")
    saved = json.loads(path.read_text())
    if saved.get("branch_kind") != "landmarks":
        raise UserError(f"{run_dir}: config.json is not from a landmark run (use the matching 'fer ... evaluate')")
    return saved


def split_logits(model: LandmarkModel, ds, lms: LandmarkSet, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits (NaN rows where absent) and the present mask of one split."""
    m = ds.mask(split)
    z = model.logits(lms.points[m], ds.images[m])
    present = lms.present[m] & np.isfinite(z).all(1)
    z[~present] = np.nan
    return z, present


def evaluate_run(run_dir: str | Path, ds, lms: LandmarkSet, *, command: str, landmark_info: dict | None = None,
                 progress: bool = True, train_predictions: bool = False) -> dict[str, Any]:
    """``train_predictions`` also writes the Training split's artifact (in-sample), what a teacher is built from."""
    run_dir = Path(run_dir)
    saved = load_run_config(run_dir)
    model = LandmarkModel.load(run_dir / MODEL_FILE)
    if tuple(model.label_space) != tuple(ds.label_space):
        raise UserError(f"{run_dir}: model label space {list(model.label_space)} differs from the data's")
    kind = saved["model"]
    branch = f"landmarks/{kind}"
    splits = {}
    for split in (TRAIN_SPLIT, CAL_SPLIT, TEST_SPLIT):
        z, present = split_logits(model, ds, lms, split)
        splits[split] = SplitLogits(ds.split_ids(split), ds.split_arrays(split)[1], z, present)
    if not splits[CAL_SPLIT].present.any():
        raise UserError(f"{run_dir}: no {CAL_SPLIT} sample has usable landmarks; cannot fit the temperature")
    selection = saved.get("selection", {})
    arts = calibrate(
        run_dir, splits, calibration_split=CAL_SPLIT, label_space=ds.label_space,
        branch=branch, modality="landmarks", dataset=ds.name, fit_splits=[TRAIN_SPLIT, CAL_SPLIT],
        write=(CAL_SPLIT, TEST_SPLIT) + ((TRAIN_SPLIT,) if train_predictions else ()),
        calibration=saved["config"]["eval"].get("calibration", "temperature"),
        command=saved["command"],
        extra=lambda split: {"model": kind, "feature_groups": list(model.feature_groups), "tta_mirror": model.tta_mirror,
                             "selection": selection, "n_missing": int((~splits[split].present).sum())})

    reasons = {split: lms.subset(ds.mask(split)).reason_counts() for split in (TRAIN_SPLIT, CAL_SPLIT, TEST_SPLIT)}
    train = splits[TRAIN_SPLIT]
    train_ok = train.present
    train_acc = float((train.logits[train_ok].argmax(1) == train.labels[train_ok]).mean()) if train_ok.any() else None
    test = arts[TEST_SPLIT]
    correct_all = np.zeros(test.n, bool)
    correct_all[test.present] = test.probs[test.present].argmax(1) == test.labels[test.present]
    public = build_metrics(arts[CAL_SPLIT])
    history = read_history(run_dir)
    extra = {
        "model": kind,
        "synthetic": ds.name == "synthetic",
        "coverage": float(test.present.mean()),
        "accuracy_missing_as_wrong": float(correct_all.mean()),
        "missing_reasons": reasons,
        "train_accuracy": train_acc,
        "val_split": CAL_SPLIT,
        "val_accuracy": public["accuracy"],
        "val_ece": public["ece"],
        "selection": selection,
        "num_features": int(len(model.mean)),
        "feature_groups": list(model.feature_groups),
        "model_file_bytes": (run_dir / MODEL_FILE).stat().st_size,
        "train_time_s": saved.get("train_time_s"),
        "landmarks": {k: v for k, v in (landmark_info or saved.get("landmarks", {})).items() if k != "settings"},
        "evaluate_command": command if command != saved["command"] else None,
    }
    # logistic regression's history is one row per C, not per epoch: no training curves
    return report(run_dir, test, extra=extra, command=saved["command"], history=history,
                  curves_title=f"{branch} on {ds.name}" if kind == "mlp" else None, quiet=not progress,
                  summary_suffix=f"  missing {int((~test.present).sum())}/{test.n}")
