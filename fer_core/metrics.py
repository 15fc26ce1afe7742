"""Classification and calibration metrics on probability matrices (rows = samples)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

ECE_BINS = 15


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(1) == labels).mean())


def nll(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    # Not sklearn.metrics.log_loss: it clips at float64 eps on both sides (a true class at probability 1.0 adds
    # 2.2e-16, one below 1e-12 is not capped at 27.6) and warns on artifact rows stored to 7 decimals. Equal on
    # every committed artifact, not where a true class reaches probability 1.0, and published NLLs must not move.
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], eps, None)).mean())


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    onehot = np.eye(probs.shape[1])[labels]
    return float(((probs - onehot) ** 2).sum(1).mean())


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> dict[str, list]:
    """Equal-width confidence bins: count, mean confidence and accuracy per bin (top-label)."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == labels).astype(np.float64)
    # Bin i holds confidences in (i/n, (i+1)/n]; confidence 0 falls into bin 0.
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    nz = np.maximum(count, 1)
    return {
        "edges": np.linspace(0, 1, n_bins + 1).round(6).tolist(),
        "count": count.tolist(),
        # Empty bins are null (JSON has no NaN).
        "confidence": [round(float(v), 6) if c else None for v, c in zip(conf_sum / nz, count)],
        "accuracy": [round(float(v), 6) if c else None for v, c in zip(acc_sum / nz, count)],
    }


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top label, ``n_bins`` equal-width bins."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == labels).astype(np.float64)
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    gap = np.bincount(idx, weights=conf, minlength=n_bins) - np.bincount(idx, weights=correct, minlength=n_bins)
    return float(np.abs(gap).sum() / len(labels))


def summary(probs: np.ndarray, labels: np.ndarray, label_space: Sequence[str]) -> dict[str, Any]:
    """Every metric the platform reports for one probability matrix."""
    labels = np.asarray(labels, np.int64)
    pred = probs.argmax(1)
    k = list(range(len(label_space)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, pred, labels=k, zero_division=0)
    cm = confusion_matrix(labels, pred, labels=k)
    return {
        "accuracy": accuracy(probs, labels),
        "macro_f1": float(f1_score(labels, pred, labels=k, average="macro", zero_division=0)),
        "nll": nll(probs, labels),
        "brier": brier(probs, labels),
        "ece": ece(probs, labels),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_space, precision, recall, f1, support)
        },
        "confusion_matrix": cm.tolist(),
        "reliability": reliability_bins(probs, labels),
    }


def ece_of_perfect_calibration(probs: np.ndarray, draws: int = 200, seed: int = 0,
                               at_most: float | None = None) -> dict[str, float]:
    """ECE that a perfectly calibrated model with exactly these probabilities would show on this many samples.

    Labels are drawn from the probabilities themselves, so calibration is perfect by construction and the
    ECE left is the 15-bin estimator's sampling noise; a measured ECE inside [p05, p95] cannot be told
    apart from perfect calibration at this sample size. With ``at_most`` (an ECE target), ``p_at_most`` is
    the share of draws at or below it: how often even a perfectly calibrated model would meet that target.
    """
    rng = np.random.default_rng(seed)
    cum = np.cumsum(probs, axis=1)
    values = []
    for _ in range(draws):
        u = rng.random((len(probs), 1)) * cum[:, -1:]
        labels = np.minimum((u > cum).sum(1), probs.shape[1] - 1)
        values.append(ece(probs, labels))
    v = np.asarray(values)
    out = {"mean": float(v.mean()), "p05": float(np.percentile(v, 5)), "p95": float(np.percentile(v, 95)),
           "draws": draws, "seed": seed}
    if at_most is not None:
        out.update(at_most=at_most, p_at_most=float((v <= at_most).mean()))
    return out
