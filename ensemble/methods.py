"""Fusion strategies: mean of probabilities, log-linear pooling, stacking.

Every strategy sees branch probabilities as a (B, N, C) array in the target label space plus a
(B, N) present mask, and returns unnormalised log-scores (N, C); the fusion turns them into
calibrated probabilities with one temperature. Each sample is fused from the branches present for it:

* mean:     ``p = sum_b m_b p_b / sum_b m_b``: the average over the present branches only.
* logpool:  ``log p = sum_b w_b m_b log p_b + const``: a weighted product of the present experts,
            renormalised over classes; an absent expert contributes no evidence (factor 1), its weight
            is not handed to the others (that would make a lone branch overconfident).
* stacking: multinomial logistic regression on the concatenated centred log-probabilities
            ``log p_b - mean_c log p_b`` of every branch; an absent branch's block is 0, i.e. exactly
            a uniform (uninformative) distribution, so its coefficients drop out.

A sample with no branch present gets NaN scores; the caller marks it absent (never guessed).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
from scipy.special import logsumexp, softmax

from fer_core.errors import UserError

PROB_FLOOR = 1e-6  # probabilities are clipped here before logs: artifacts store 7 decimals, so 0 happens


def centered_log_probs(probs: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(B, N, C) -> centred log-probabilities, exactly 0 where a branch is absent."""
    logp = np.log(np.clip(np.nan_to_num(probs, nan=1.0), PROB_FLOOR, None))
    out = logp - logp.mean(-1, keepdims=True)
    out[~present] = 0.0
    return out


class FusionMethod:
    name: ClassVar[str] = ""
    has_parameters: ClassVar[bool] = True
    weights_meaning: ClassVar[str] = ""

    def fit(self, probs: np.ndarray, present: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> "FusionMethod":
        """Fit on labelled rows where at least one branch is present (the caller selects them)."""
        return self

    def _scores(self, probs: np.ndarray, present: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def scores(self, probs: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Unnormalised log-scores (N, C); NaN rows where no branch is present."""
        out = np.asarray(self._scores(probs, present), np.float64)
        out[~present.any(0)] = np.nan
        return out

    def fixed_copy(self) -> "FusionMethod":
        """An unfitted copy with every hyperparameter frozen at this fit's choice (for cross-fitting)."""
        return type(self)()

    def weights(self, names: Sequence[str]) -> dict[str, float]:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "FusionMethod":
        return cls()


class MeanFusion(FusionMethod):
    name = "mean"
    has_parameters = False
    weights_meaning = "equal weights of the average (no parameters are fit; only the temperature)"

    def _scores(self, probs, present):
        m = present[..., None]
        total = np.where(m, np.nan_to_num(probs), 0.0).sum(0)
        count = m.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(np.clip(total / count, PROB_FLOOR, None))

    def weights(self, names):
        return {n: 1.0 for n in names}


class LogPoolFusion(FusionMethod):
    name = "logpool"
    weights_meaning = "exponent of each branch in the product of experts, fit by NLL (>= 0; 0 = ignored)"
    # A calibrated useless branch predicts ~uniform: its weight barely changes the NLL and would drift
    # anywhere. This weak ridge sends such weights to 0 and moves informative ones by ~1e-3.
    L2 = 1e-3

    def __init__(self, w: Sequence[float] | None = None):
        self.w = None if w is None else np.asarray(w, np.float64)
        self.optimizer: dict[str, Any] = {}

    def fit(self, probs, present, labels, *, seed=0):
        x = centered_log_probs(probs, present)
        y = np.asarray(labels)
        rows = np.arange(len(y))

        def nll_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = np.einsum("b,bnc->nc", w, x)
            nll = float((logsumexp(z, axis=1) - z[rows, y]).mean()) + self.L2 * float(w @ w)
            p = softmax(z, axis=1)
            grad = (np.einsum("nc,bnc->b", p, x) - x[:, rows, y].sum(1)) / len(y) + 2 * self.L2 * w
            return nll, grad

        from scipy.optimize import minimize  # a second to import; applying a fitted fusion never needs it

        b = x.shape[0]
        res = minimize(nll_and_grad, np.full(b, 1.0 / b), jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * b)
        self.w = res.x
        self.optimizer = {"objective": float(res.fun), "l2": self.L2, "converged": bool(res.success), "iterations": int(res.nit)}
        return self

    def _scores(self, probs, present):
        return np.einsum("b,bnc->nc", self.w, centered_log_probs(probs, present))

    def weights(self, names):
        return {n: float(w) for n, w in zip(names, self.w)}

    def params(self):
        return {"w": self.w.tolist(), "optimizer": self.optimizer}

    @classmethod
    def from_params(cls, params):
        return cls(params["w"])


class StackingFusion(FusionMethod):
    name = "stacking"
    weights_meaning = "Frobenius norm of each branch's block of logistic-regression coefficients (importance, not an exponent)"
    DEFAULT_CS = tuple(np.logspace(-3, 2, 9).round(6))
    CV_FOLDS = 5
    ABSENT_CLASS_INTERCEPT = -30.0  # a class never seen in the fit split: negligible, finite score

    def __init__(self, cs: Sequence[float] = DEFAULT_CS, cv_folds: int = CV_FOLDS):
        self.cs = tuple(float(c) for c in cs)
        self.cv_folds = cv_folds
        self.c: float | None = None
        self.coef: np.ndarray | None = None  # (C, B*C)
        self.intercept: np.ndarray | None = None  # (C,)
        self.cv_nll: dict[str, float] = {}

    @staticmethod
    def features(probs: np.ndarray, present: np.ndarray) -> np.ndarray:
        x = centered_log_probs(probs, present)  # (B, N, C)
        return np.transpose(x, (1, 0, 2)).reshape(x.shape[1], -1)

    @staticmethod
    def _model(c: float):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=c, max_iter=2000, warm_start=True)

    def _choose_c(self, x: np.ndarray, y: np.ndarray, seed: int) -> float:
        from sklearn.model_selection import StratifiedKFold

        counts = np.bincount(y)
        folds = min(self.cv_folds, int(counts[counts > 0].min()))
        if len(self.cs) == 1 or folds < 2:
            return self.cs[0] if len(self.cs) == 1 else 1.0
        total = np.zeros(len(self.cs))
        for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
            model = self._model(self.cs[0])
            for k, c in enumerate(sorted(self.cs)):  # increasing C, warm-started
                model.set_params(C=c)
                model.fit(x[train], y[train])
                logp = np.log(np.clip(model.predict_proba(x[held]), 1e-12, None))
                col = np.searchsorted(model.classes_, y[held])
                total[self.cs.index(c)] += -logp[np.arange(len(held)), col].sum()
        self.cv_nll = {f"{c:g}": float(t / len(y)) for c, t in zip(self.cs, total)}
        return self.cs[int(np.argmin(total))]

    def fit(self, probs, present, labels, *, seed=0):
        from threadpoolctl import threadpool_limits

        x, y = self.features(probs, present), np.asarray(labels)
        with threadpool_limits(1):  # tiny problems: extra BLAS/OpenMP threads only add overhead
            self.c = self._choose_c(x, y, seed)
            model = self._model(self.c).fit(x, y)
        n_classes = probs.shape[-1]
        self.coef = np.zeros((n_classes, x.shape[1]))
        self.intercept = np.full(n_classes, self.ABSENT_CLASS_INTERCEPT)
        if len(model.classes_) == 2:  # sklearn's binary parametrisation: one row for class 1
            self.coef[model.classes_[1]], self.intercept[model.classes_] = model.coef_[0], (0.0, model.intercept_[0])
        else:
            self.coef[model.classes_], self.intercept[model.classes_] = model.coef_, model.intercept_
        return self

    def _scores(self, probs, present):
        return self.features(probs, present) @ self.coef.T + self.intercept

    def fixed_copy(self):
        return StackingFusion(cs=(self.c,), cv_folds=self.cv_folds)

    def weights(self, names):
        n_classes = self.coef.shape[0]
        return {n: float(np.linalg.norm(self.coef[:, k * n_classes:(k + 1) * n_classes])) for k, n in enumerate(names)}

    def params(self):
        return {"C": self.c, "Cs": list(self.cs), "cv_folds": self.cv_folds, "cv_nll": self.cv_nll,
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_params(cls, params):
        m = cls(cs=params.get("Cs", (params["C"],)), cv_folds=params.get("cv_folds", cls.CV_FOLDS))
        m.c, m.coef, m.intercept = params["C"], np.asarray(params["coef"]), np.asarray(params["intercept"])
        m.cv_nll = params.get("cv_nll", {})
        return m


METHODS: dict[str, type[FusionMethod]] = {m.name: m for m in (MeanFusion, LogPoolFusion, StackingFusion)}


def make_method(name: str) -> FusionMethod:
    if name not in METHODS:
        raise UserError(f"unknown fusion method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]()
