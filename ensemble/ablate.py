"""``fer ensemble ablate``: the same fusion protocol on every non-empty subset of the branches.

Every subset is fit on the fit split and scored on the eval split exactly as ``fer ensemble fuse``
would (one-branch subsets are that branch re-calibrated by the method), on the same aligned sample
set, so rows are comparable. Writes ``ablation.json|.csv|.md``.

Choosing the subset by its eval-split accuracy would be selection on the test split. Each row therefore
also carries ``fit_cv_accuracy``: the accuracy of the fusion's cross-fitted fit-split scores (each fold
scored by a fusion fit on the other folds; a method without parameters, ``mean``, fits nothing). The
subset with the best ``fit_cv_accuracy`` per method (fewer branches on ties) is reported as ``selected``.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from fer_core.errors import UserError
from fer_core.metrics import accuracy

from ensemble.fuse import FuseOptions, check_out_dir
from ensemble.fusion import fit_fusion, fit_rows
from ensemble.methods import make_method
from ensemble.tables import METRIC_COLUMNS, score_row, to_markdown, write_table

ABLATION_COLUMNS = ("branches", "method", "fit_cv_accuracy") + METRIC_COLUMNS
MAX_BRANCHES = 10  # 1023 subsets per method


def subsets(n: int) -> list[tuple[int, ...]]:
    """Every non-empty subset of range(n), smallest first."""
    return [s for k in range(1, n + 1) for s in itertools.combinations(range(n), k)]


def select_on_fit_split(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method, the row with the best ``fit_cv_accuracy``; ties go to the smaller subset, then the earlier row."""
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["fit_cv_accuracy"] is None:
            continue
        held = best.get(r["method"])
        if held is None or (r["fit_cv_accuracy"], -len(r["branches"])) > (held["fit_cv_accuracy"], -len(held["branches"])):
            best[r["method"]] = r
    return best


def run_ablate(run_dirs: Sequence[str | Path], *, methods: Sequence[str], out: str | Path, options: FuseOptions,
               command: str, overwrite: bool = False, progress: bool = True, quiet: bool = False) -> list[dict[str, Any]]:
    out = Path(out)
    check_out_dir(out, "ablation.json", run_dirs, overwrite)
    if len(run_dirs) > MAX_BRANCHES:
        raise UserError(f"ablation over {len(run_dirs)} branches means {2 ** len(run_dirs) - 1} subsets per method; "
                        f"give at most {MAX_BRANCHES}")
    methods = list(dict.fromkeys(methods))
    inputs = options.load(run_dirs)
    for m in methods:
        make_method(m)  # unknown names fail before any work
    jobs = [(s, m) for s in subsets(len(inputs.branches)) for m in methods]
    rows = []
    for subset, method in tqdm(jobs, desc="ablation", unit="fusion", disable=not progress, file=sys.stderr):
        sub = inputs.select(subset)
        result = fit_fusion(sub, method, seed=options.seed, cross_fit_folds=options.cross_fit_folds,
                            calibration=options.calibration)
        present = sub.eval.any_present
        probs = result.eval_scores.copy()
        probs[present] = result.fusion.calibrate(result.eval_scores[present])
        rows_fit = fit_rows(sub.fit)  # fit_fusion refuses a fit split without labelled rows, so this is never empty
        fit_cv = accuracy(result.fit_scores[rows_fit], sub.fit.labels[rows_fit])
        rows.append({"branches": sub.names, "method": method, "fit_cv_accuracy": fit_cv,
                     **score_row(probs, sub.eval.labels, present, inputs.label_space)})
    selected = select_on_fit_split(rows)
    selection_notes = [
        f"{method}: best {inputs.fit.split} cross-fitted accuracy {r['fit_cv_accuracy']:.2%} with "
        f"{' + '.join(r['branches'])} -> {inputs.eval.split} {r['accuracy']:.2%}"
        for method, r in selected.items() if r["accuracy"] is not None]
    meta = {"methods": methods, "branches": [b.info() for b in inputs.branches], "fit_split": inputs.fit.split,
            "eval_split": inputs.eval.split, "n_eval_total": int(len(inputs.eval.ids)), "command": command,
            "notes": inputs.notes, "selected_by": f"{inputs.fit.split} cross-fitted accuracy (fit_cv_accuracy)",
            "selected": selected}
    write_table(out, "ablation", rows, ABLATION_COLUMNS,
                title=f"Ablation over branch subsets ({', '.join(methods)}) on {inputs.eval.split}",
                meta=meta, notes=[*selection_notes, *inputs.notes])
    if not quiet:
        print(to_markdown(rows, ABLATION_COLUMNS), end="")
    return rows
