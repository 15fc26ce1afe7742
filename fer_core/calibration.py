"""Temperature scaling (Guo et al., 2017): one scalar T fit by NLL on a held-out split.

Shared by every branch and by the ensemble, so "calibrated" means the same thing everywhere. A fusion may add
per-class isotonic maps on top of its temperature (``IsotonicMaps``) when that calibrates its held-out scores better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

LOG_T_BOUNDS = (-4.0, 4.0)  # T in [0.018, 54.6]


def nll_at_temperature(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    logp = log_softmax(np.asarray(logits, np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the mean NLL of ``softmax(logits / T)`` on (logits, labels)."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    keep = np.isfinite(logits).all(1) & (labels >= 0)
    logits, labels = logits[keep], labels[keep]
    if len(labels) == 0:
        raise ValueError("cannot fit a temperature on zero labelled samples")
    res = minimize_scalar(
        lambda log_t: nll_at_temperature(logits, labels, float(np.exp(log_t))),
        bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6},
    )
    return float(np.exp(res.x))


def calibrated_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(np.asarray(logits, np.float64) / temperature, axis=1)


@dataclass(frozen=True)
class IsotonicMaps:
    """Isotonic calibration on top of a temperature (Zadrozny & Elkan): per class, a non-decreasing map of that
    class's probability (one class against the rest), the mapped values renormalised per sample. ``x[k]``, ``y[k]``
    are class k's breakpoints; values outside them take the end values."""

    x: tuple[tuple[float, ...], ...]
    y: tuple[tuple[float, ...], ...]

    def apply(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, np.float64)
        mapped = np.stack([np.interp(probs[:, k], self.x[k], self.y[k]) for k in range(probs.shape[1])], axis=1)
        return mapped / mapped.sum(1, keepdims=True)

    def to_json(self) -> dict:
        return {"kind": "isotonic", "x": [list(v) for v in self.x], "y": [list(v) for v in self.y]}

    @classmethod
    def from_json(cls, obj: dict) -> "IsotonicMaps":
        if len(obj["x"]) != len(obj["y"]) or any(len(a) != len(b) or len(a) == 0 for a, b in zip(obj["x"], obj["y"])):
            raise ValueError("isotonic breakpoints: x and y differ in length")
        return cls(tuple(tuple(map(float, v)) for v in obj["x"]), tuple(tuple(map(float, v)) for v in obj["y"]))


ISOTONIC_FLOOR = 1e-4  # no class is ever given probability 0: the NLL of a surprise stays finite


def fit_isotonic(probs: np.ndarray, labels: np.ndarray) -> IsotonicMaps:
    """Per-class isotonic maps of calibrated ``probs`` onto the frequency of that class in ``labels``."""
    from sklearn.isotonic import IsotonicRegression  # sklearn is slow to import; only fitting needs it

    xs, ys = [], []
    for k in range(probs.shape[1]):
        iso = IsotonicRegression(y_min=ISOTONIC_FLOOR, y_max=1.0, out_of_bounds="clip").fit(probs[:, k], labels == k)
        xs.append(tuple(map(float, iso.X_thresholds_)))
        ys.append(tuple(map(float, iso.y_thresholds_)))
    return IsotonicMaps(tuple(xs), tuple(ys))
