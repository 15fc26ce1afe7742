"""k-fold cross-validation by actor: one full run per fold, then the mean and spread of the test metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from scipy.special import softmax

from fer_core import artifact, atomic, metrics
from fer_audio.splits import kfold_split

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


def pooled_test_metrics(runs: list[Path]) -> dict[str, Any]:
    """Accuracy, NLL and calibrated ECE over the union of the folds' test actors (every clip once).

    Each fold's probabilities carry that fold's own temperature; pooling gives n = all clips, where the
    15-bin ECE is far less noisy than on one fold's few actors (see ``ece_of_perfect_calibration``).
    """
    arts = [artifact.load_run(run, "test") for run in runs]
    keep = [a.present & (a.labels >= 0) for a in arts]
    probs = np.concatenate([a.probs[k] for a, k in zip(arts, keep)])
    labels = np.concatenate([a.labels[k] for a, k in zip(arts, keep)])
    raw = np.concatenate([softmax(a.logits[k], axis=1) for a, k in zip(arts, keep)])
    s = metrics.summary(probs, labels, arts[0].label_space)
    return {"n": int(len(labels)), "accuracy": s["accuracy"], "macro_f1": s["macro_f1"], "nll": s["nll"],
            "ece": s["ece"], "ece_uncalibrated": metrics.ece(raw, labels),
            "ece_of_perfect_calibration": metrics.ece_of_perfect_calibration(probs)}


def cross_validate(cfg: dict[str, Any], *, data: str | None, out: Path, folds: int, command: str, device: str,
                   progress: bool) -> dict[str, Any]:
    from fer_audio.train import train

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
    pooled = pooled_test_metrics([out / f"fold-{f}" for f in range(1, folds + 1)])
    summary = {"command": command, "folds": folds, "per_fold": per_fold, "summary": summarise(per_fold),
               "pooled": pooled}
    atomic.write_json(out / "cv.json", summary)
    s = summary["summary"]
    lines = [f"# {folds}-fold cross-validation by actor", "", f"Command: `{command}`", "",
             "| fold | test actors | n | accuracy | macro-F1 | ECE |", "|---|---|---|---|---|---|"]
    lines += [f"| {m['fold']} | {','.join(map(str, m['test_actors']))} | {m['n']} | {m['accuracy']:.2%} | "
              f"{m['macro_f1']:.3f} | {m['ece']:.2%} |" for m in per_fold]
    lines += [f"| mean +- sd | all | {sum(m['n'] for m in per_fold)} | {s['accuracy']['mean']:.2%} +- "
              f"{s['accuracy']['std']:.2%} | {s['macro_f1']['mean']:.3f} | {s['ece']['mean']:.2%} |",
              f"| pooled | all | {pooled['n']} | {pooled['accuracy']:.2%} | {pooled['macro_f1']:.3f} | {pooled['ece']:.2%} |",
              "", f"Pooled: every clip once, each with its own fold's temperature. ECE before temperature scaling "
              f"{pooled['ece_uncalibrated']:.2%}; a perfectly calibrated model with these probabilities would show "
              f"{pooled['ece_of_perfect_calibration']['p05']:.2%}-{pooled['ece_of_perfect_calibration']['p95']:.2%} "
              "(5-95 %) at this n.", ""]
    atomic.write_text(out / "cv.md", "\n".join(lines))
    print("\n".join(lines), file=sys.stderr)
    return summary
