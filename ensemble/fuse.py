"""``fer ensemble fuse``: fit one fusion, write its run directory (a branch like any other).

Output directory (names are fixed; the dashboard reads them)::

    metrics.json                 fer_core.report.build_metrics on the eval split + method/branches/weights
    predictions/<fit split>.json fused, cross-fitted, calibrated (modality "fusion"): fusions compose
    predictions/<eval split>.json
    fusion.json                  everything needed to re-apply the fusion (FittedFusion.load)
    comparison.json|.csv|.md     per-branch vs fused rows on the eval split
    reliability.png
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fer_core import atomic
from fer_core.artifact import Predictions, artifact_path
from fer_core.errors import UserError
from fer_core.evaluate import FER2013, write_report
from fer_core.report import build_metrics, format_summary

from ensemble.fusion import CROSS_FIT_FOLDS, FUSION_FILE, FitResult, fit_fusion, fit_rows
from ensemble.inputs import AlignedSplit, FusionInputs, load_inputs
from ensemble.tables import METRIC_COLUMNS, score_row, to_markdown, write_table

COMPARISON_COLUMNS = ("name", "modality") + METRIC_COLUMNS


@dataclass
class FuseOptions:
    fit_split: str = FER2013.calibration
    eval_split: str = FER2013.test
    label_space: Sequence[str] | None = None
    label_map_file: str | Path | None = None
    allow_partial: bool = False
    seed: int = 0
    cross_fit_folds: int = CROSS_FIT_FOLDS
    calibration: str = "temperature"

    def load(self, run_dirs: Sequence[str | Path]) -> FusionInputs:
        kw = {"label_space": self.label_space} if self.label_space else {}
        return load_inputs(run_dirs, fit_split=self.fit_split, eval_split=self.eval_split,
                           label_map_file=self.label_map_file, allow_partial=self.allow_partial, **kw)


def fused_predictions(result: FitResult, inputs: FusionInputs, data: AlignedSplit, scores: np.ndarray, *,
                      name: str, command: str) -> Predictions:
    """The fused split as a predictions artifact; samples with no branch present are marked absent."""
    fusion = result.fusion
    present = data.any_present
    fit_splits = sorted({s for b in inputs.branches for a in b.artifacts.values() for s in a.fit_splits} | {inputs.fit.split})
    datasets = sorted({b.first.dataset for b in inputs.branches})
    probs = np.full_like(scores, np.nan)
    probs[present] = fusion.calibrate(scores[present])
    if data is inputs.fit and result.fit_probs is not None:  # held-out calibration where it was cross-fitted
        probs[fit_rows(data)] = result.fit_probs
    return Predictions(
        ids=data.ids, labels=data.labels, probs=probs, present=present, logits=scores,
        label_space=inputs.label_space, branch=name, modality="fusion",
        dataset=datasets[0] if len(datasets) == 1 else "+".join(datasets), split=data.split,
        temperature=fusion.temperature, calibration=fusion.calibrator.artifact_field(),
        calibration_split=inputs.fit.split, fit_splits=fit_splits, command=command,
        extra={"method": fusion.method.name, "branches": fusion.names,
               "calibrated_with": fusion.info["calibrated_with"],
               "cross_fitted": data.split == inputs.fit.split and fusion.info.get("cross_fit_folds", 0) > 0},
    )


def check_out_dir(out: Path, marker: str, inputs_dirs: Sequence[str | Path], overwrite: bool) -> None:
    if (out / marker).exists() and not overwrite:
        raise UserError(f"{out}: already holds {marker}; pass --overwrite to replace it")
    if any(out.resolve() == Path(d).resolve() for d in inputs_dirs):
        raise UserError(f"{out}: --out is one of the --branch run directories; choose a new directory")


def comparison(inputs: FusionInputs, fused: Predictions) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    ev = inputs.eval
    rows = []
    for k, b in enumerate(inputs.branches):
        rows.append({"name": b.name, "modality": b.modality,
                     **score_row(ev.branch_probs[k], ev.labels, ev.present[k], inputs.label_space)})
    rows.append({"name": fused.branch, "modality": "fusion",
                 **score_row(fused.probs, fused.labels, fused.present, inputs.label_space)})
    scored = [r for r in rows[:-1] if r["accuracy"] is not None]
    best = max(scored, key=lambda r: r["accuracy"]) if scored else None
    meta = {
        "best_branch": best["name"] if best else None,
        "accuracy_gain_over_best_branch": rows[-1]["accuracy"] - best["accuracy"] if best and rows[-1]["accuracy"] is not None else None,
    }
    return rows, meta


def run_fuse(run_dirs: Sequence[str | Path], *, method: str, out: str | Path, options: FuseOptions, command: str,
             name: str | None = None, overwrite: bool = False, quiet: bool = False) -> dict[str, Any]:
    out = Path(out)
    check_out_dir(out, FUSION_FILE, run_dirs, overwrite)
    inputs = options.load(run_dirs)
    result = fit_fusion(inputs, method, seed=options.seed, cross_fit_folds=options.cross_fit_folds,
                        calibration=options.calibration)
    fusion = result.fusion
    name = name or f"fusion/{method}"
    arts = {
        inputs.fit.split: fused_predictions(result, inputs, inputs.fit, result.fit_scores, name=name, command=command),
        inputs.eval.split: fused_predictions(result, inputs, inputs.eval, result.eval_scores, name=name, command=command),
    }
    for split, a in arts.items():
        a.validate(f"fused {split}")
    test = arts[inputs.eval.split]
    notes = inputs.notes + result.notes
    n_none = {s: int((~a.present).sum()) for s, a in arts.items()}
    for s, k in n_none.items():
        if k:
            notes.append(f"{s}: {k} samples have no branch present; they are marked absent in the fused artifact, not guessed")
    weights = fusion.method.weights(fusion.names)
    rows, comp_meta = comparison(inputs, test)
    fit_art = arts[inputs.fit.split]
    fit_keep = fit_art.present & (fit_art.labels >= 0)
    metrics = build_metrics(test, extra={
        "method": method,
        "branches": fusion.branches,
        "weights": weights,
        "weights_meaning": fusion.method.weights_meaning,
        "fit_split": inputs.fit.split,
        "eval_split": inputs.eval.split,
        "n_no_branch": n_none,
        "fit_split_metrics": score_row(fit_art.probs, fit_art.labels, fit_keep, inputs.label_space),
        "cross_fit_folds": fusion.info["cross_fit_folds"],
        "calibrated_with": fusion.info["calibrated_with"],
        "calibration_compared": fusion.info.get("calibration_compared"),
        "best_branch": comp_meta["best_branch"],
        "accuracy_gain_over_best_branch": comp_meta["accuracy_gain_over_best_branch"],
        "notes": notes,
    })
    fusion_json = {**fusion.to_json(), "name": name, "command": command, "n_no_branch": n_none, "notes": notes}

    # every check has passed: write
    for split, a in arts.items():
        a.save(artifact_path(out, split))
    atomic.write_json(out / FUSION_FILE, fusion_json)
    write_report(out, metrics, command=command, quiet=True)
    write_table(out, "comparison", rows, COMPARISON_COLUMNS,
                title=f"{name} vs its branches on {inputs.eval.split}",
                meta={"method": method, "fit_split": inputs.fit.split, "eval_split": inputs.eval.split,
                      "command": command, **comp_meta}, notes=notes)
    if not quiet:
        print(to_markdown(rows, COMPARISON_COLUMNS), end="")
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        print(format_summary(metrics), file=sys.stderr)
        print("weights: " + ", ".join(f"{k}={v:.3f}" for k, v in weights.items()), file=sys.stderr)
    return metrics
