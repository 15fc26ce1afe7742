"""Split-conformal prediction sets: the math, shared by ``fer ensemble conformal`` (any run directory) and the model
zoo (every published model and fusion records its sets' thresholds, so ``fer predict --coverage`` needs no data).

For a target coverage ``1 - alpha``, a set ``C(x)`` calibrated on exchangeable labelled samples contains the true
label with probability >= ``1 - alpha`` (marginally), whatever the model. LAC (Sadinle et al. 2019) scores
``1 - p_y`` and keeps every class with ``p_k >= 1 - q``; APS (Romano et al. 2020) scores the probability mass
ranked at or above the true class. Class-conditional (Mondrian) thresholds, one per class, make coverage hold
within every class. ``q`` is the ``ceil((n+1)(1-alpha))``-th smallest calibration score.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fer_core.artifact import Predictions, artifact_path, load_run
from fer_core.errors import UserError

# coverage levels the zoo records thresholds for (fer predict --coverage)
ZOO_LEVELS = (0.8, 0.9, 0.95)


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((n+1)(1-alpha))``-th smallest score.

    Ours rather than crepes' ``ConformalClassifier``: fed the same scores (LAC, APS, Mondrian by class), crepes
    includes a class when its p-value is >= alpha, one calibration score more than this quantile whenever
    ``alpha * (n+1)`` is a whole number (FER2013's 3589 PublicTest samples at 80 % and 90 %): larger sets than
    the standard split-conformal threshold, the same sets otherwise.
    """
    n = len(scores)
    k = math.ceil((n + 1) * (1 - alpha))
    if k > n:
        return math.inf  # too few calibration samples for this coverage: every set is the full label space
    return float(np.sort(scores)[k - 1])


def _ranked(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-probs, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(probs, order, 1), axis=1)
    rank = np.argsort(order, axis=1)  # rank[i, k] = position of class k in sample i's ranking
    return order, cum, rank


def nonconformity(method: str, probs: np.ndarray, labels: np.ndarray, u: np.ndarray) -> np.ndarray:
    rows = np.arange(len(labels))
    p_y = probs[rows, labels]
    if method == "lac":
        return 1.0 - p_y
    _, cum, rank = _ranked(probs)
    return cum[rows, rank[rows, labels]] - u * p_y


def class_thresholds(scores: np.ndarray, labels: np.ndarray, n_classes: int, alpha: float) -> np.ndarray:
    """Mondrian (class-conditional) thresholds: one conformal quantile per class (inf if too few samples)."""
    return np.array([conformal_quantile(scores[labels == k], alpha) for k in range(n_classes)])


def prediction_sets(method: str, probs: np.ndarray, threshold: float | np.ndarray, u: np.ndarray) -> np.ndarray:
    """(N, C) bool membership; ``threshold`` is a scalar or one per class (Mondrian)."""
    if method == "lac":
        return probs >= 1.0 - threshold
    _, cum, rank = _ranked(probs)
    class_score = np.take_along_axis(cum, rank, 1) - u[:, None] * probs
    return class_score <= threshold


def zoo_sets(calibration: Predictions, test: Predictions, levels: tuple[float, ...] = ZOO_LEVELS) -> dict[str, Any]:
    """Class-conditional LAC thresholds per coverage level, fit on ``calibration``'s present labelled samples, and
    the coverage and mean set size they give on ``test``: what a manifest entry records as ``conformal``."""
    keep_cal, keep_test = calibration.present & (calibration.labels >= 0), test.present & (test.labels >= 0)
    pc, yc = calibration.probs[keep_cal], calibration.labels[keep_cal]
    pt, yt = test.probs[keep_test], test.labels[keep_test]
    scores = nonconformity("lac", pc, yc, np.zeros(len(yc)))
    thresholds, coverage, size = {}, {}, {}
    for level in levels:
        q = class_thresholds(scores, yc, len(calibration.label_space), 1.0 - level)
        sets = prediction_sets("lac", pt, q, np.zeros(len(yt)))
        key = f"{level:g}"
        thresholds[key] = [float(v) if math.isfinite(v) else None for v in q]
        coverage[key] = float(sets[np.arange(len(yt)), yt].mean())
        size[key] = float(sets.sum(1).mean())
    return {"method": "lac", "class_conditional": True, "calibration_split": calibration.split,
            "n_calibration": int(len(yc)), "thresholds": thresholds,
            "test": {"split": test.split, "n": int(len(yt)), "coverage": coverage, "mean_set_size": size}}


def run_sets(run_dir, metrics: dict[str, Any], calibration: Predictions | None = None) -> dict[str, Any] | None:
    """``zoo_sets`` of an evaluated run directory from its calibration- and test-split artifacts (``calibration``:
    the first, when the caller has it loaded); None when either is missing (a run scored on one split only)."""
    splits = (metrics["calibration_split"], metrics["split"])
    if not all(artifact_path(run_dir, split).is_file() for split in splits):
        return None
    return zoo_sets(calibration or load_run(run_dir, splits[0]), load_run(run_dir, splits[1]))


def check_level(coverage: float) -> None:
    """Refuse a coverage the zoo records no thresholds for, naming the flag."""
    if coverage not in ZOO_LEVELS:
        raise UserError(f"--coverage {coverage:g}: choose one of {', '.join(f'{c:g}' for c in ZOO_LEVELS)}")


def set_labels(probs: dict[str, float], conformal: dict[str, Any], coverage: float) -> list[str]:
    """The labels of one sample's set at ``coverage`` (``probs``: label -> probability), most probable first."""
    members = zoo_set(np.array(list(probs.values())), conformal, coverage)
    return sorted((k for k, inside in zip(probs, members) if inside), key=probs.get, reverse=True)


def zoo_set(probs: np.ndarray, conformal: dict[str, Any], coverage: float) -> np.ndarray:
    """Membership (C,) of one sample's class-conditional LAC set at ``coverage`` from a zoo entry's ``conformal``."""
    q = np.array([math.inf if v is None else v for v in conformal["thresholds"][f"{coverage:g}"]])
    return prediction_sets("lac", np.asarray(probs, float)[None], q, np.zeros(1))[0]
