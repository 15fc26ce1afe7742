"""k-fold cross-validation by actor: one full run per fold, then the mean and spread of the test metrics."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scipy.special import softmax

from fer_core import artifact, atomic, metrics
from fer_core.calibration import calibrated_probs, fit_temperature
from fer_audio.splits import kfold_split
from fer_audio.train import train

KEYS = ("accuracy", "macro_f1", "nll", "ece", "ece_uncalibrated", "val_accuracy")


def summarise(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in KEYS:
        vals = np.asarray([m[k] for m in per_fold if m.get(k) is not None], float)
        if len(vals):
            out[k] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                      "min": float(vals.min()), "max": float(vals.max())}
    total = sum(m["n"] for m in per_fold)
    out["pooled_accuracy"] = float(sum(m["accuracy"] * m["n"] for m in per_fold) / total) if total else None
    return out


def _pooled(probs: np.ndarray, logits: list[np.ndarray], labels: np.ndarray, label_space) -> dict[str, Any]:
    s = metrics.summary(probs, labels, label_space)
    raw = np.concatenate([softmax(lg, axis=1) for lg in logits])
    return {"n": int(len(labels)), "accuracy": s["accuracy"], "macro_f1": s["macro_f1"], "nll": s["nll"],
            "ece": s["ece"], "ece_uncalibrated": metrics.ece(raw, labels),
            "ece_of_perfect_calibration": metrics.ece_of_perfect_calibration(probs)}


@dataclass
class FoldScores:
    """Each fold's scored test clips (present and labelled), in fold order."""

    probs: list[np.ndarray]
    logits: list[np.ndarray]
    labels: list[np.ndarray]
    label_space: tuple[str, ...]


def load_fold_scores(runs: list[Path]) -> FoldScores:
    arts = [artifact.load_run(run, "test") for run in runs]
    keep = [a.present & (a.labels >= 0) for a in arts]
    return FoldScores([a.probs[k] for a, k in zip(arts, keep)], [a.logits[k] for a, k in zip(arts, keep)],
                      [a.labels[k] for a, k in zip(arts, keep)], arts[0].label_space)


def pooled_test_metrics(runs: list[Path] | FoldScores) -> dict[str, Any]:
    """Accuracy, NLL and calibrated ECE over the union of the folds' test actors (every clip once).

    Each fold's probabilities carry that fold's own temperature; pooling gives n = all clips, where the
    15-bin ECE is far less noisy than on one fold's few actors (see ``ece_of_perfect_calibration``).
    """
    sc = runs if isinstance(runs, FoldScores) else load_fold_scores(runs)
    return _pooled(np.concatenate(sc.probs), sc.logits, np.concatenate(sc.labels), sc.label_space)


def cross_fitted_test_metrics(runs: list[Path] | FoldScores) -> dict[str, Any]:
    """Pooled test metrics where fold k's temperature is fit on the other folds' out-of-fold test predictions.

    A fold's own validation actors are too few to estimate a temperature that transfers to new voices (two
    actors, 120 clips). Here fold k borrows the held-out predictions that the sibling folds' models made on
    their own test actors: every other actor, each scored by a model that never trained on it. Fold k's test
    labels are never used for fold k's temperature. The sibling models did train on fold k's test actors, so
    this estimates the recipe's temperature rather than being a fully nested protocol (that would need an
    inner cross-validation: k x (k-1) more runs).
    """
    sc = runs if isinstance(runs, FoldScores) else load_fold_scores(runs)
    if len(sc.logits) < 2:
        raise ValueError("cross-fitted temperatures need at least 2 folds")
    temps, probs = [], []
    for k in range(len(sc.logits)):
        others = [j for j in range(len(sc.logits)) if j != k]
        t = fit_temperature(np.concatenate([sc.logits[j] for j in others]),
                            np.concatenate([sc.labels[j] for j in others]))
        temps.append(t)
        probs.append(calibrated_probs(sc.logits[k], t))
    return {"temperatures": temps, **_pooled(np.concatenate(probs), sc.logits, np.concatenate(sc.labels), sc.label_space)}


def cross_validate(cfg: dict[str, Any], *, data: str | None, out: Path, folds: int, command: str, device: str,
                   progress: bool) -> dict[str, Any]:
    per_fold = []
    for f in range(1, folds + 1):
        split = kfold_split(f, folds)
        run = out / f"fold-{f}"
        if (run / "metrics.json").is_file():
            print(f"fold {f}/{folds}: reusing the finished run in {run}", file=sys.stderr)
        else:
            print(f"fold {f}/{folds}: test actors {list(split.test)}", file=sys.stderr)
            train(cfg, data=data, out=run, command=f"{command}  # fold {f}", split=split,
                  resume=(run / "last.pt").is_file(), device=device, progress=progress)
        m = json.loads((run / "metrics.json").read_text())
        per_fold.append({"fold": f, "test_actors": list(split.test), "n": m["n"],
                         **{k: m.get(k) for k in KEYS}})
    return write_summary(out, folds, command, per_fold)


def write_summary(out: Path, folds: int, command: str, per_fold: list[dict[str, Any]], *,
                  quiet: bool = False) -> dict[str, Any]:
    """Pool the finished folds under ``out`` and write ``cv.json`` and ``cv.md`` (also printed)."""
    scores = load_fold_scores([out / f"fold-{f}" for f in range(1, folds + 1)])
    pooled = pooled_test_metrics(scores)
    crossfit = cross_fitted_test_metrics(scores)
    summary = {"command": command, "folds": folds, "per_fold": per_fold, "summary": summarise(per_fold),
               "pooled": pooled, "pooled_cross_fitted_temperature": crossfit}
    atomic.write_json(out / "cv.json", summary)
    s = summary["summary"]
    lines = [f"# {folds}-fold cross-validation by actor", "", f"Command: `{command}`", "",
             "| fold | test actors | n | accuracy | macro-F1 | ECE |", "|---|---|---|---|---|---|"]
    lines += [f"| {m['fold']} | {','.join(map(str, m['test_actors']))} | {m['n']} | {m['accuracy']:.2%} | "
              f"{m['macro_f1']:.3f} | {m['ece']:.2%} |" for m in per_fold]
    lines += [f"| mean +- sd | all | {sum(m['n'] for m in per_fold)} | {s['accuracy']['mean']:.2%} +- "
              f"{s['accuracy']['std']:.2%} | {s['macro_f1']['mean']:.3f} | {s['ece']['mean']:.2%} |",
              f"| pooled | all | {pooled['n']} | {pooled['accuracy']:.2%} | {pooled['macro_f1']:.3f} | {pooled['ece']:.2%} |",
              f"| pooled, cross-fitted T | all | {crossfit['n']} | {crossfit['accuracy']:.2%} | "
              f"{crossfit['macro_f1']:.3f} | {crossfit['ece']:.2%} |",
              "", f"Pooled: every clip once, each with its own fold's temperature. ECE before temperature scaling "
              f"{pooled['ece_uncalibrated']:.2%}; a perfectly calibrated model with these probabilities would show "
              f"{pooled['ece_of_perfect_calibration']['p05']:.2%}-{pooled['ece_of_perfect_calibration']['p95']:.2%} "
              "(5-95 %) at this n.", "",
              "Cross-fitted T: fold k's temperature is fit on the other folds' out-of-fold test predictions "
              f"({', '.join(f'{t:.3f}' for t in crossfit['temperatures'])}), never on fold k's own test clips; "
              f"a perfectly calibrated model would show {crossfit['ece_of_perfect_calibration']['p05']:.2%}-"
              f"{crossfit['ece_of_perfect_calibration']['p95']:.2%} here.", ""]
    atomic.write_text(out / "cv.md", "\n".join(lines))
    if not quiet:
        print("\n".join(lines), file=sys.stderr)
    return summary
