"""The scikit-learn baseline: multinomial logistic regression on the standardised features.

Only its weights are kept (a (C, D) matrix and a (C,) bias), so the run directory stores them in the
same weights-only torch file as the MLP: no pickled estimator is ever written or loaded.
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

import numpy as np


def fit_logreg(cfg: dict[str, Any], x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
               *, x_val_mirror: np.ndarray | None = None, num_classes: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], float]:
    """Fit one model per C in ``cfg['C']`` (one log line each); keep the best on validation accuracy.

    Returns (weight (C, D), bias (C,), history (one row per C), chosen C).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    history: list[dict[str, Any]] = []
    best = None
    for c in cfg["C"]:
        t0 = time.perf_counter()
        clf = LogisticRegression(C=float(c), max_iter=int(cfg["max_iter"]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(x_train, y_train)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        weight, bias = _full_weights(clf, num_classes)
        val_logits = linear_logits(weight, bias, x_val)
        if x_val_mirror is not None:
            val_logits = (val_logits + linear_logits(weight, bias, x_val_mirror)) / 2
        val_acc = float((val_logits.argmax(1) == y_val).mean())
        train_acc = float((linear_logits(weight, bias, x_train).argmax(1) == y_train).mean())
        row = {"C": float(c), "train_acc": train_acc, "val_acc": val_acc, "converged": converged,
               "n_iter": int(np.max(clf.n_iter_)), "fit_time_s": round(time.perf_counter() - t0, 2)}
        history.append(row)
        print(f"logreg C={c:g}: train acc {train_acc:.4f}  val acc {val_acc:.4f}  "
              f"({row['fit_time_s']:.0f}s{'' if converged else ', not converged'})", file=sys.stderr, flush=True)
        if best is None or val_acc > best[0]:
            best = (val_acc, weight, bias, float(c))
    assert best is not None
    return best[1], best[2], history, best[3]


def _full_weights(clf, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(num_classes, D) weights even when a class never occurs in training (its logit stays very low)."""
    d = clf.coef_.shape[1]
    weight = np.zeros((num_classes, d))
    bias = np.full(num_classes, -1e3 if len(clf.classes_) < num_classes else 0.0)
    coef, intercept = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2:  # sklearn keeps one row for two classes: logit(class 1) - logit(class 0)
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    weight[clf.classes_] = coef
    bias[clf.classes_] = intercept
    return weight, bias


def linear_logits(weight: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64) @ np.asarray(weight, np.float64).T + np.asarray(bias, np.float64)
