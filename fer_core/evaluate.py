"""The one evaluation every branch and the fusion end with: logits per split -> temperature fit on the
calibration split -> calibrated predictions artifacts -> metrics.json, training curves, reliability diagram.

A branch supplies only its logits per split (``SplitLogits``) and its metadata; ``calibrate`` and ``report``
do the rest. A fusion calibrates its own way (cross-fitted) and ends with ``write_report``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fer_core import atomic
from fer_core.artifact import Predictions, artifact_path
from fer_core.calibration import calibrated_probs, fit_temperature
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


def calibrate(run_dir: str | Path, splits: Mapping[str, SplitLogits], *, calibration_split: str,
              write: Iterable[str], extra: Callable[[str], dict[str, Any]] = lambda split: {},
              **producer: Any) -> dict[str, Predictions]:
    """Fit the temperature on ``calibration_split`` and save the calibrated artifact of every split in ``write``.

    ``producer`` holds the artifact fields that name the branch (``label_space``, ``branch``, ``modality``,
    ``dataset``, ``fit_splits``, ``command``); ``extra(split)`` its per-split metadata.
    """
    temperature = fit_temperature(splits[calibration_split].logits, splits[calibration_split].labels)
    arts = {}
    for split in write:
        s = splits[split]
        arts[split] = Predictions(ids=s.ids, labels=s.labels, logits=s.logits, probs=calibrated_probs(s.logits, temperature),
                                  present=s.present, split=split, temperature=temperature,
                                  calibration_split=calibration_split, extra=extra(split), **producer)
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
