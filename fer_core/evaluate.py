"""The one evaluation every branch and the fusion end with: logits per split -> temperature fit on the
calibration split -> calibrated predictions artifacts -> metrics.json, training curves, reliability diagram.

A branch supplies only its logits per split (``SplitLogits``) and its metadata; ``calibrate`` and ``report``
do the rest. A fusion calibrates its own way (cross-fitted) and ends with ``write_report``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fer_core import atomic
from fer_core.artifact import Predictions, artifact_path, as_saved, load
from fer_core.calibration import CALIBRATION_CHOICES, choose_calibrator
from fer_core.errors import ArtifactError
from fer_core.plots import plot_history, plot_reliability
from fer_core.report import build_metrics, format_summary


@dataclass(frozen=True)
class Splits:
    """What each split of a dataset is for: fitting, calibration (temperature, model selection), the report."""

    train: str
    calibration: str
    test: str


FER2013 = Splits("Training", "PublicTest", "PrivateTest")
RAVDESS = Splits("train", "validation", "test")  # actor-independent splits (fer_audio.splits)


@dataclass
class SplitLogits:
    """A branch's uncalibrated logits of one split; ``present`` False where it has no prediction (NaN rows)."""

    ids: np.ndarray
    labels: np.ndarray
    logits: np.ndarray
    present: np.ndarray | None = None


# Another thread count or CPU moves float32 logits by ~1e-6; other weights or test-time views move them far more.
SAME_LOGITS_ATOL = 1e-4


def saved_predictions(path: Path, split: SplitLogits, branch: str) -> Predictions | None:
    """The artifact saved at ``path`` when its logits are ``split``'s (same branch, samples, labels, presence,
    values to ``SAME_LOGITS_ATOL``), else None."""
    if not path.is_file():
        return None
    try:
        old = load(path)
    except ArtifactError:
        return None
    present = np.ones(len(split.ids), bool) if split.present is None else np.asarray(split.present, bool)
    if (old.logits is None or old.branch != branch or old.logits.shape != np.shape(split.logits)
            or not np.array_equal(old.ids, np.asarray(split.ids, str)) or not np.array_equal(old.labels, split.labels)
            or not np.array_equal(old.present, present)):
        return None
    new = np.asarray(split.logits, np.float64)
    return old if np.allclose(old.logits[present], new[present], rtol=0, atol=SAME_LOGITS_ATOL) else None


def fit_calibration(split: SplitLogits, choice: str) -> tuple[float, dict[str, Any] | None, np.ndarray]:
    """(temperature, artifact ``calibration`` field, the split's probabilities) of the ``choice`` calibrator fit on
    ``split``'s labelled, present rows. The field is None for the plain temperature, else says the kind, its
    parameters and the choice; the probabilities of the rows it was fit on are cross-fitted beyond a temperature
    (``choose_calibrator``), so the split's metrics and whatever is fit on it next see held-out numbers."""
    if choice not in CALIBRATION_CHOICES:
        raise ValueError(f"calibration {choice!r}: one of {', '.join(CALIBRATION_CHOICES)}")
    logits = np.asarray(split.logits, np.float64)
    keep = np.isfinite(logits).all(1) & (np.asarray(split.labels) >= 0)
    calibrator, fit_probs, info = choose_calibrator(logits[keep], np.asarray(split.labels)[keep], choice)
    probs = calibrator.probs(logits)
    probs[keep] = fit_probs
    if choice == "temperature":
        return calibrator.temperature, None, probs
    return calibrator.temperature, {**calibrator.to_json(), **info}, probs


def calibrate(run_dir: str | Path, splits: Mapping[str, SplitLogits], *, calibration_split: str,
              write: Iterable[str], extra: Callable[[str], dict[str, Any]] = lambda split: {},
              calibration: str = "temperature", **producer: Any) -> dict[str, Predictions]:
    """Fit the ``calibration`` calibrator (``fer_core.calibration.CALIBRATION_CHOICES``) on ``calibration_split``
    and save the calibrated artifact of every split in ``write`` (the calibration split's probabilities cross-fitted
    beyond a temperature: ``fit_calibration``).

    ``producer`` holds the artifact fields that name the branch (``label_space``, ``branch``, ``modality``,
    ``dataset``, ``fit_splits``, ``command``); ``extra(split)`` its per-split metadata. Re-evaluating an unchanged
    run with the same choice keeps its saved calibration, logits and probabilities, so its artifacts (and the
    fingerprints a fusion recorded) stay the same on another machine or thread count. The calibrator is fit on the
    logits as the artifact saves them, so refitting it from the saved file (``fer recalibrate``) gives it back.
    """
    splits = {name: replace(s, logits=as_saved(s.logits)) for name, s in splits.items()}
    saved = {split: saved_predictions(artifact_path(run_dir, split), splits[split], producer.get("branch", ""))
             for split in {*write, calibration_split}}
    old_cal = saved[calibration_split]
    if old_cal is not None and (old_cal.calibration or {}).get("choice", "temperature") == calibration:
        temperature, fitted, held_out = old_cal.temperature, old_cal.calibration, old_cal.probs
    else:
        temperature, fitted, held_out = fit_calibration(splits[calibration_split], calibration)
    arts = {}
    for split in write:
        s, old = splits[split], saved[split]
        art = Predictions(ids=s.ids, labels=s.labels, logits=s.logits, probs=np.zeros(np.shape(s.logits)),
                          present=s.present, split=split, temperature=temperature, calibration_split=calibration_split,
                          extra=extra(split), calibration=fitted, **producer)
        if old is not None and old.temperature == temperature and old.calibration == fitted:
            art.logits, art.probs = old.logits, old.probs
        else:
            art.probs = held_out if split == calibration_split else art.calibrator.probs(s.logits)
        arts[split] = art
        arts[split].save(artifact_path(run_dir, split))
    return arts


def report(run_dir: str | Path, test: Predictions, *, extra: dict[str, Any], command: str,
           **write: Any) -> dict[str, Any]:
    """The metrics of ``test`` (plus ``extra``), written with ``write_report``."""
    return write_report(run_dir, build_metrics(test, extra=extra), command=command, **write)


def write_report(run_dir: str | Path, metrics: dict[str, Any], *, command: str, history: list[dict[str, Any]] = (),
                 curves_title: str | None = None, summary_suffix: str = "", quiet: bool = False) -> dict[str, Any]:
    """metrics.json (recording the training ``command``), the training curves (when there is a history and a
    ``curves_title``) and the reliability diagram; unless ``quiet``, the one-line summary to stderr."""
    run_dir = Path(run_dir)
    metrics["command"] = command
    atomic.write_json(run_dir / "metrics.json", metrics)
    if history and curves_title is not None:
        plot_history(history, run_dir / "curves.png", title=curves_title)
    plot_reliability(metrics, run_dir / "reliability.png")
    if not quiet:
        print(format_summary(metrics) + summary_suffix, file=sys.stderr)
    return metrics
