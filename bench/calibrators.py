"""Which calibrator to fit on PublicTest: temperature, temperature + class bias, vector scaling or isotonic.

    python bench/calibrators.py RUN [RUN ...] [--out bench/results/calibrators.json]

Every calibrator is fit on the run's PublicTest logits by negative log-likelihood (isotonic: per class, one against
the rest, on the temperature-scaled probabilities, renormalised). The choice is made on PublicTest alone, by the
NLL and the ECE of 5-fold cross-fitting (each fold scored by the calibrator fit on the other four); PrivateTest is
then scored for every calibrator (accuracy, NLL, ECE against the band a perfectly calibrated model shows at that n),
so the table also shows whether each PublicTest choice helped where it is reported. Writes JSON plus a Markdown
table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_record import write_record  # noqa: E402
from calibration_shift import labelled_logits  # noqa: E402
from fer_core.calibration import (BIAS_L2, CROSS_FIT_FOLDS, cross_fitted_probs, fit_calibrator,  # noqa: E402
                                  fit_temperature)
from fer_core.metrics import accuracy, ece, ece_of_perfect_calibration, nll  # noqa: E402

FOLDS = CROSS_FIT_FOLDS
L2 = BIAS_L2  # pull of vector scaling's parameters towards plain temperature scaling


def _vector(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scale (C,), bias (C,)) minimising NLL of softmax(logits * scale + bias), from the temperature fit."""
    n, c = logits.shape
    onehot = np.eye(c)[labels]
    start = np.concatenate([np.full(c, 1 / fit_temperature(logits, labels)), np.zeros(c)])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logp = log_softmax(logits * theta[:c] + theta[c:], axis=1)
        d = (np.exp(logp) - onehot) / n
        reg = theta - start
        return -(logp * onehot).sum() / n + L2 * (reg ** 2).sum(), np.concatenate([(d * logits).sum(0), d.sum(0)]) + 2 * L2 * reg

    theta = minimize(loss, start, jac=True, method="L-BFGS-B").x
    return theta[:c], theta[c:]


def fit(kind: str, logits: np.ndarray, labels: np.ndarray):
    """A function logits -> probabilities, fit on (logits, labels): fer_core's calibrators, plus vector scaling."""
    if kind == "vector":
        scale, bias = _vector(logits, labels)
        return lambda z: softmax(z * scale + bias, axis=1)
    return fit_calibrator(kind, logits, labels).probs


CALIBRATORS = ("temperature", "temperature+bias", "vector", "isotonic")


def cross_fitted(kind: str, logits: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Probabilities of every sample from the calibrator fit on the other folds."""
    if kind != "vector":
        return cross_fitted_probs(kind, logits, labels, FOLDS, seed)
    probs = np.zeros(logits.shape)
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(logits, labels):
        probs[test] = fit(kind, logits[train], labels[train])(logits[test])
    return probs


def compare(run: Path, seed: int) -> dict:
    pub_z, pub_y, branch = labelled_logits(run, "PublicTest")
    prv_z, prv_y, _ = labelled_logits(run, "PrivateTest")
    rows = {}
    for kind in CALIBRATORS:
        public = cross_fitted(kind, pub_z, pub_y, seed)
        probs = fit(kind, pub_z, pub_y)(prv_z)
        band = ece_of_perfect_calibration(probs, seed=seed)
        rows[kind] = {"public_cross_fitted_nll": nll(public, pub_y), "public_cross_fitted_ece": ece(public, pub_y),
                      "private_accuracy": accuracy(probs, prv_y), "private_nll": nll(probs, prv_y),
                      "private_ece": ece(probs, prv_y), "private_ece_band_5_95": [band["p05"], band["p95"]]}
        rows[kind]["private_ece_inside_band"] = rows[kind]["private_ece"] <= band["p95"]
    return {"run": str(run), "branch": branch, "calibrators": rows,
            "chosen_by_public_nll": min(rows, key=lambda k: rows[k]["public_cross_fitted_nll"]),
            "chosen_by_public_ece": min(rows, key=lambda k: rows[k]["public_cross_fitted_ece"])}


def markdown(results: list[dict]) -> str:
    lines = ["| run | calibrator | PublicTest NLL | PublicTest ECE | PrivateTest acc | NLL | ECE | band |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        for kind, m in r["calibrators"].items():
            marks = [f"lowest {what}" for what, key in (("NLL", "chosen_by_public_nll"), ("ECE", "chosen_by_public_ece"))
                     if r[key] == kind]
            lo, hi = m["private_ece_band_5_95"]
            lines.append(f"| `{Path(r['run']).name}` | {kind}{' (' + ', '.join(marks) + ')' if marks else ''} "
                         f"| {m['public_cross_fitted_nll']:.4f} | {100 * m['public_cross_fitted_ece']:.2f} "
                         f"| {100 * m['private_accuracy']:.2f} | {m['private_nll']:.4f} | {100 * m['private_ece']:.2f} "
                         f"| {100 * lo:.2f}-{100 * hi:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories whose PublicTest/PrivateTest artifacts carry logits")
    p.add_argument("--out", type=Path, default=Path("bench/results/calibrators.json"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from fer_core.atomic import write_text
    from fer_core.errors import UserError

    try:
        results = [compare(run, args.seed) for run in args.runs]
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_record(args.out, {"fit_split": "PublicTest", "choice": f"lowest {FOLDS}-fold cross-fitted PublicTest NLL or ECE",
                            "test_split": "PrivateTest", "runs": results})
    write_text(args.out.with_suffix(".md"), markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
