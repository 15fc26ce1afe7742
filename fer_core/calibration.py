"""Temperature scaling (Guo et al., 2017): one scalar T fit by NLL on a held-out split.

Shared by every branch and by the ensemble, so "calibrated" means the same thing everywhere.
"""

from __future__ import annotations

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
