"""Evaluate a landmark run: model.pt -> logits -> temperature on PublicTest -> artifacts and metrics.json.

Samples whose landmarks are absent (degenerate predictor output) are written with ``present=False``;
metrics are computed on present samples and ``n_missing`` (plus the reasons) says how many were not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fer_core import atomic
from fer_core.artifact import Predictions, artifact_path
from fer_core.calibration import calibrated_probs, fit_temperature
from fer_core.errors import UserError
from fer_core.report import build_metrics, format_summary
from fer_face.landmarks.batch import LandmarkSet
from fer_face.landmarks.model import MODEL_FILE, LandmarkModel

TRAIN_SPLIT, CAL_SPLIT, TEST_SPLIT = "Training", "PublicTest", "PrivateTest"


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
                 progress: bool = True) -> dict[str, Any]:
    run_dir = Path(run_dir)
    saved = load_run_config(run_dir)
    model = LandmarkModel.load(run_dir / MODEL_FILE)
    if tuple(model.label_space) != tuple(ds.label_space):
        raise UserError(f"{run_dir}: model label space {list(model.label_space)} differs from the data's")
    kind = saved["model"]
    branch = f"landmarks/{kind}"
    logits, present = {}, {}
    for split in (TRAIN_SPLIT, CAL_SPLIT, TEST_SPLIT):
        logits[split], present[split] = split_logits(model, ds, lms, split)
    y = {s: ds.split_arrays(s)[1] for s in logits}
    if not present[CAL_SPLIT].any():
        raise UserError(f"{run_dir}: no {CAL_SPLIT} sample has usable landmarks; cannot fit the temperature")
    temperature = fit_temperature(logits[CAL_SPLIT], y[CAL_SPLIT])
    selection = saved.get("selection", {})
    arts: dict[str, Predictions] = {}
    for split in (CAL_SPLIT, TEST_SPLIT):
        z = logits[split]
        arts[split] = Predictions(
            ids=ds.split_ids(split), labels=y[split], logits=z, probs=calibrated_probs(z, temperature),
            present=present[split], label_space=ds.label_space, branch=branch, modality="landmarks",
            dataset=ds.name, split=split, temperature=temperature, calibration_split=CAL_SPLIT,
            fit_splits=[TRAIN_SPLIT, CAL_SPLIT], command=saved["command"],
            extra={"model": kind, "feature_groups": list(model.feature_groups), "tta_mirror": model.tta_mirror,
                   "selection": selection, "n_missing": int((~present[split]).sum())},
        )
        arts[split].save(artifact_path(run_dir, split))

    reasons = {split: lms.subset(ds.mask(split)).reason_counts() for split in (TRAIN_SPLIT, CAL_SPLIT, TEST_SPLIT)}
    train_ok = present[TRAIN_SPLIT]
    train_acc = float((logits[TRAIN_SPLIT][train_ok].argmax(1) == y[TRAIN_SPLIT][train_ok]).mean()) if train_ok.any() else None
    test = arts[TEST_SPLIT]
    correct_all = np.zeros(test.n, bool)
    correct_all[test.present] = test.probs[test.present].argmax(1) == test.labels[test.present]
    public = build_metrics(arts[CAL_SPLIT])
    history_path = run_dir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else []
    metrics = build_metrics(test, extra={
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
    })
    metrics["command"] = saved["command"]
    atomic.write_json(run_dir / "metrics.json", metrics)
    from fer_core.plots import plot_history, plot_reliability

    if kind == "mlp" and history:
        plot_history(history, run_dir / "curves.png", title=f"{branch} on {ds.name}")
    plot_reliability(metrics, run_dir / "reliability.png")
    if progress:
        print(format_summary(metrics) + f"  missing {metrics['n_missing']}/{metrics['n_total']}", file=sys.stderr)
    return metrics
