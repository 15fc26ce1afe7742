"""Split-conformal prediction sets for any branch or fusion run directory.

Calibrated on the fit split's (present, labelled) rows, evaluated on the eval split: for a target
coverage ``1 - alpha`` the set ``C(x)`` contains the true label with probability >= ``1 - alpha``
(marginally, over exchangeable calibration and test samples), whatever the model.

* LAC (least ambiguous set-valued classifier, Sadinle et al. 2019): score ``1 - p_y``; the set is
  every class with ``p_k >= 1 - q``. Smallest sets on average; can be empty for hard samples.
* APS (adaptive prediction sets, Romano et al. 2020): score = probability mass of the classes ranked
  at or above the true one, randomised by ``u ~ U(0,1)`` on the true class's own mass (exact coverage);
  sets grow with the model's uncertainty, always a prefix of the ranking.

``q`` is the ``ceil((n+1)(1-alpha))``-th smallest calibration score. The guarantee is marginal: a
class the model rarely predicts (FER2013's ``disgust``) can be badly under-covered while the average
is on target. ``class_conditional`` (Mondrian) fits one ``q_k`` per class on that class's calibration
samples and includes class ``k`` when its score is ``<= q_k``: coverage then holds within every class,
with larger sets for the classes the model is weak on. Note: a branch's temperature is
also fit on the fit split; one scalar barely dents exchangeability. A fusion's fit-split artifact is
cross-fitted for this reason.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fer_core import atomic
from fer_core.conformal import class_thresholds, conformal_quantile, nonconformity, prediction_sets
from fer_core.errors import ArtifactError, UserError

from ensemble.inputs import load_checked_split

METHODS = ("lac", "aps")
CONFORMAL_FILE = "conformal.json"


def evaluate_sets(sets: np.ndarray, labels: np.ndarray, label_space) -> dict[str, Any]:
    rows = np.arange(len(labels))
    covered = sets[rows, labels]
    size = sets.sum(1)
    singleton = size == 1
    hist = np.bincount(size, minlength=len(label_space) + 1)
    per_class = {}
    for k, name in enumerate(label_space):
        m = labels == k
        per_class[name] = {"n": int(m.sum()),
                           "coverage": float(covered[m].mean()) if m.any() else None,
                           "mean_set_size": float(size[m].mean()) if m.any() else None}
    cov = float(covered.mean())
    return {
        "coverage": cov,
        "coverage_se": float(math.sqrt(cov * (1 - cov) / len(labels))),
        "mean_set_size": float(size.mean()),
        "set_size_histogram": {str(k): int(v) for k, v in enumerate(hist)},
        "empty_set_rate": float((size == 0).mean()),
        "singleton_rate": float(singleton.mean()),
        "singleton_accuracy": float(covered[singleton].mean()) if singleton.any() else None,
        "per_class": per_class,
    }


def run_conformal(run_dir: str | Path, *, coverage: float = 0.9, method: str = "lac", fit_split: str = "PublicTest",
                  eval_split: str = "PrivateTest", out: str | Path | None = None, seed: int = 0,
                  randomize: bool = True, class_conditional: bool = False, command: str = "",
                  quiet: bool = False) -> dict[str, Any]:
    if method not in METHODS:
        raise UserError(f"unknown conformal method {method!r}; choose one of {list(METHODS)}")
    if not 0 < coverage < 1:
        raise UserError(f"--coverage must be strictly between 0 and 1, got {coverage}")
    if fit_split == eval_split:
        raise UserError(f"--fit-split and --eval-split are both {fit_split!r}: calibrating on the evaluation split is leakage")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a run directory")
    cal = load_checked_split(run_dir, fit_split, eval_split)
    test = load_checked_split(run_dir, eval_split, eval_split)
    if cal.label_space != test.label_space:
        raise ArtifactError(f"{run_dir}: the {fit_split} and {eval_split} artifacts have different label spaces")
    shared = np.intersect1d(cal.ids, test.ids)
    if len(shared):
        raise ArtifactError(f"{run_dir}: {len(shared)} sample ids are in both {fit_split} and {eval_split} (first {shared[0]!r})")
    keep_cal, keep_test = cal.present & (cal.labels >= 0), test.present & (test.labels >= 0)
    if not keep_cal.any() or not keep_test.any():
        raise ArtifactError(f"{run_dir}: needs present, labelled samples in both {fit_split} and {eval_split}")
    rng = np.random.default_rng(seed)
    pc, yc = cal.probs[keep_cal], cal.labels[keep_cal]
    pt, yt = test.probs[keep_test], test.labels[keep_test]
    u_cal = rng.uniform(size=len(yc)) if randomize else np.ones(len(yc))
    u_test = rng.uniform(size=len(yt)) if randomize else np.ones(len(yt))
    if method == "lac":
        u_cal, u_test = np.zeros(len(yc)), np.zeros(len(yt))
    alpha = 1.0 - coverage
    scores = nonconformity(method, pc, yc, u_cal)
    if class_conditional:
        threshold = class_thresholds(scores, yc, len(cal.label_space), alpha)
        threshold_json: Any = {name: float(q) if math.isfinite(q) else None for name, q in zip(cal.label_space, threshold)}
    else:
        threshold = conformal_quantile(scores, alpha)
        threshold_json = threshold if math.isfinite(threshold) else None
    sets = prediction_sets(method, pt, threshold, u_test)
    n_cal = len(yc)
    report = {
        "format": "fer-conformal",
        "version": 1,
        "run": str(run_dir),
        "branch": test.branch,
        "modality": test.modality,
        "method": method,
        "randomized": bool(randomize and method == "aps"),
        "class_conditional": class_conditional,
        "seed": seed,
        "coverage_target": coverage,
        "alpha": alpha,
        "fit_split": fit_split,
        "eval_split": eval_split,
        "threshold": threshold_json,  # null: too few calibration samples, full sets
        "n_calibration": n_cal,
        "n_eval": int(len(yt)),
        "n_absent": {fit_split: int((~cal.present).sum()), eval_split: int((~test.present).sum())},
        "expected_coverage_range": [coverage, min(1.0, coverage + 1.0 / (n_cal + 1))],
        **evaluate_sets(sets, yt, test.label_space),
        "label_space": list(test.label_space),
        "command": command,
    }
    target = Path(out) if out else run_dir
    atomic.write_json(target / CONFORMAL_FILE, report)
    if not quiet:
        print(format_conformal(report), file=sys.stderr)
    return report


def format_conformal(r: dict[str, Any]) -> str:
    kind = " class-conditional" if r.get("class_conditional") else ""
    lines = [
        f"{r['branch']}{kind} {r['method'].upper()} sets at {r['coverage_target']:.0%} target, calibrated on {r['fit_split']} "
        f"(n={r['n_calibration']}): {r['eval_split']} coverage {r['coverage']:.2%} (se {r['coverage_se']:.2%}), "
        f"mean set size {r['mean_set_size']:.2f}, empty {r['empty_set_rate']:.1%}, singletons {r['singleton_rate']:.1%} (n={r['n_eval']})"
    ]
    for name, c in r["per_class"].items():
        if c["n"]:
            lines.append(f"  {name:<10} n={c['n']:<5} coverage {c['coverage']:.2%}  mean size {c['mean_set_size']:.2f}")
    return "\n".join(lines)
