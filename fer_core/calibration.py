"""Calibration: logits -> probabilities fit on a held-out split, shared by every branch and by the ensemble, so
"calibrated" means the same thing everywhere.

A ``Calibrator`` is temperature scaling (Guo et al., 2017: one scalar T fit by NLL), optionally with a per-class
bias fit jointly with T, or with per-class isotonic maps on top of T (Zadrozny & Elkan). ``choose_calibrator``
picks one on the held-out split alone: a named kind, or "auto", the kind with the lowest cross-fitted ECE (each
fold calibrated by the calibrator fit on the other folds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# scipy takes about 0.5 s to import, and ``fer --help`` and every command's parser import this module for its
# names (CALIBRATION_CHOICES): scipy is imported where it is first used.
def softmax(z: np.ndarray) -> np.ndarray:
    from scipy.special import softmax as scipy_softmax

    return scipy_softmax(z, axis=1)


def log_softmax(z: np.ndarray) -> np.ndarray:
    from scipy.special import log_softmax as scipy_log_softmax

    return scipy_log_softmax(z, axis=1)


LOG_T_BOUNDS = (-4.0, 4.0)  # T in [0.018, 54.6]


def nll_at_temperature(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    logp = log_softmax(np.asarray(logits, np.float64) / temperature)
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the mean NLL of ``softmax(logits / T)`` on (logits, labels)."""
    from scipy.optimize import minimize_scalar

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
    return softmax(np.asarray(logits, np.float64) / temperature)


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


BIAS_L2 = 1e-3  # pull of (1/T, bias) towards plain temperature scaling; keeps the bias small where it buys nothing


def fit_temperature_bias(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(T, bias) minimising the NLL of ``softmax(logits / T + bias)``, started from the plain temperature fit."""
    from scipy.optimize import minimize

    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    n, c = logits.shape
    onehot = np.eye(c)[labels]
    start = np.concatenate([[1 / fit_temperature(logits, labels)], np.zeros(c)])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logp = log_softmax(logits * theta[0] + theta[1:])
        d = (np.exp(logp) - onehot) / n
        reg = theta - start
        grad = np.concatenate([[(d * logits).sum()], d.sum(0)]) + 2 * BIAS_L2 * reg
        return -(logp * onehot).sum() / n + BIAS_L2 * (reg ** 2).sum(), grad

    theta = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(np.exp(-LOG_T_BOUNDS[1]), None)] + [(None, None)] * c).x
    return float(1 / theta[0]), theta[1:]


CALIBRATORS = ("temperature", "temperature+bias", "isotonic")
CALIBRATION_CHOICES = CALIBRATORS + ("auto",)
CROSS_FIT_FOLDS = 5


@dataclass(frozen=True)
class Calibrator:
    """``softmax(logits / temperature + bias)``, then the isotonic maps when there are any."""

    temperature: float
    bias: tuple[float, ...] | None = None
    isotonic: IsotonicMaps | None = None

    @property
    def kind(self) -> str:
        return "isotonic" if self.isotonic is not None else "temperature+bias" if self.bias is not None else "temperature"

    def probs(self, logits: np.ndarray) -> np.ndarray:
        p = self.smooth_probs(logits)
        return p if self.isotonic is None else self.isotonic.apply(p)

    def smooth_probs(self, logits: np.ndarray) -> np.ndarray:
        """The calibration before the isotonic maps: smooth in the logits. Fusions combine these, since the maps'
        steps would turn a fusion's inputs into plateaus; equal to ``probs`` for the other kinds."""
        z = np.asarray(logits, np.float64) / self.temperature
        return softmax(z if self.bias is None else z + np.asarray(self.bias))

    def to_json(self) -> dict:
        """What follows the temperature (files keep ``temperature`` as a field of its own)."""
        if self.isotonic is not None:
            return self.isotonic.to_json()
        return {"kind": self.kind} if self.bias is None else {"kind": self.kind, "bias": list(self.bias)}

    def artifact_field(self) -> dict | None:
        """The ``calibration`` field of an artifact these probabilities go into (None: the temperature alone)."""
        return None if self.kind == "temperature" else self.to_json()

    @classmethod
    def of_metrics(cls, metrics: dict) -> "Calibrator":
        """The calibrator a run's ``metrics.json`` reports."""
        return cls.from_json(metrics["temperature"], metrics.get("calibration"), len(metrics["label_space"]))

    @classmethod
    def from_json(cls, temperature: float, obj: dict | None, num_classes: int | None = None) -> "Calibrator":
        """``obj``: a ``to_json`` dict (other keys ignored); None means temperature alone. Raises ValueError."""
        obj = obj or {"kind": "temperature"}
        kind = obj.get("kind")
        if kind not in CALIBRATORS:
            raise ValueError(f"unknown calibration {kind!r}; one of {', '.join(CALIBRATORS)}")
        bias = tuple(map(float, obj["bias"])) if kind == "temperature+bias" else None
        isotonic = IsotonicMaps.from_json(obj) if kind == "isotonic" else None
        width = len(bias) if bias is not None else len(isotonic.x) if isotonic is not None else None
        if num_classes is not None and width is not None and width != num_classes:
            raise ValueError(f"{kind} calibration for {width} classes, the label space has {num_classes}")
        if not (np.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature}")
        return cls(float(temperature), bias, isotonic)


def fit_calibrator(kind: str, logits: np.ndarray, labels: np.ndarray) -> Calibrator:
    """A ``kind`` calibrator fit on (logits, labels); rows with non-finite logits or label -1 are left out."""
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    keep = np.isfinite(logits).all(1) & (labels >= 0)
    logits, labels = logits[keep], labels[keep]
    if kind == "temperature":
        return Calibrator(fit_temperature(logits, labels))
    if kind == "temperature+bias":
        t, bias = fit_temperature_bias(logits, labels)
        return Calibrator(t, bias=tuple(map(float, bias)))
    if kind == "isotonic":
        t = fit_temperature(logits, labels)
        return Calibrator(t, isotonic=fit_isotonic(calibrated_probs(logits, t), labels))
    raise ValueError(f"unknown calibration {kind!r}; one of {', '.join(CALIBRATORS)}")


def cross_fitted_probs(kind: str, logits: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Every row's probabilities from the ``kind`` calibrator fit on the other stratified folds."""
    from sklearn.model_selection import StratifiedKFold  # slow to import; only fitting needs it

    probs = np.zeros(np.shape(logits))
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(logits, labels):
        probs[held] = fit_calibrator(kind, logits[train], labels[train]).probs(logits[held])
    return probs


def choose_calibrator(logits: np.ndarray, labels: np.ndarray, choice: str = "temperature", *,
                      folds: int = CROSS_FIT_FOLDS, seed: int = 0) -> tuple[Calibrator, np.ndarray, dict]:
    """The calibrator ``choice`` names, fit on every row (labelled, finite logits), the rows' probabilities, and
    what was compared.

    "auto" compares every kind by the ECE of ``folds``-fold cross-fitted probabilities and keeps the lowest. The
    probabilities returned are cross-fitted for a kind with more than one parameter (honest inputs for whatever is
    calibrated on them next), in-sample for the temperature alone (one parameter) or when a class has fewer than
    ``folds`` rows.
    """
    from fer_core.metrics import ece  # imports sklearn: slow, and only fitting needs it

    if choice not in CALIBRATION_CHOICES:
        raise ValueError(f"unknown calibration {choice!r}; one of {', '.join(CALIBRATION_CHOICES)}")
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    counts = np.bincount(labels[labels >= 0])
    folds = min(folds, int(counts[counts > 0].min())) if len(counts) else 0
    info: dict = {"choice": choice}
    if choice == "auto" and folds >= 2:
        held = {kind: cross_fitted_probs(kind, logits, labels, folds, seed) for kind in CALIBRATORS}
        compared = {kind: ece(p, labels) for kind, p in held.items()}
        kind = min(CALIBRATORS, key=lambda k: compared[k])
        info["compared"] = {"by": f"{folds}-fold cross-fitted ECE", **compared}
    else:
        kind, held = ("temperature" if choice == "auto" else choice), {}
    calibrator = fit_calibrator(kind, logits, labels)
    if kind == "temperature" or folds < 2:
        probs = calibrator.probs(logits)
    else:
        probs = held[kind] if kind in held else cross_fitted_probs(kind, logits, labels, folds, seed)
    return calibrator, probs, info
