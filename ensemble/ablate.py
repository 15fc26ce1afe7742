"""``fer ensemble ablate``: the same fusion protocol on every non-empty subset of the branches.

Every subset is fit on the fit split and scored on the eval split exactly as ``fer ensemble fuse``
would (one-branch subsets are that branch re-calibrated by the method), on the same aligned sample
set, so rows are comparable. Writes ``ablation.json|.csv|.md``.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from fer_core.errors import UserError

from ensemble.fuse import FuseOptions, check_out_dir
from ensemble.fusion import fit_fusion
from ensemble.tables import METRIC_COLUMNS, score_row, to_markdown, write_table

ABLATION_COLUMNS = ("branches", "method") + METRIC_COLUMNS
MAX_BRANCHES = 10  # 1023 subsets per method


def subsets(n: int) -> list[tuple[int, ...]]:
    """Every non-empty subset of range(n), smallest first."""
    return [s for k in range(1, n + 1) for s in itertools.combinations(range(n), k)]


def run_ablate(run_dirs: Sequence[str | Path], *, methods: Sequence[str], out: str | Path, options: FuseOptions,
               command: str, overwrite: bool = False, progress: bool = True, quiet: bool = False) -> list[dict[str, Any]]:
    out = Path(out)
    check_out_dir(out, "ablation.json", run_dirs, overwrite)
    if len(run_dirs) > MAX_BRANCHES:
        raise UserError(f"ablation over {len(run_dirs)} branches means {2 ** len(run_dirs) - 1} subsets per method; "
                        f"give at most {MAX_BRANCHES}")
    methods = list(dict.fromkeys(methods))
    inputs = options.load(run_dirs)
    from ensemble.methods import make_method

    for m in methods:
        make_method(m)  # unknown names fail before any work
    jobs = [(s, m) for s in subsets(len(inputs.branches)) for m in methods]
    rows = []
    for subset, method in tqdm(jobs, desc="ablation", unit="fusion", disable=not progress, file=sys.stderr):
        sub = inputs.select(subset)
        result = fit_fusion(sub, method, seed=options.seed, cross_fit_folds=options.cross_fit_folds)
        present = sub.eval.any_present
        probs = result.eval_scores.copy()
        probs[present] = result.fusion.calibrate(result.eval_scores[present])
        rows.append({"branches": sub.names, "method": method,
                     **score_row(probs, sub.eval.labels, present, inputs.label_space)})
    meta = {"methods": methods, "branches": [b.info() for b in inputs.branches], "fit_split": inputs.fit.split,
            "eval_split": inputs.eval.split, "n_eval_total": int(len(inputs.eval.ids)), "command": command,
            "notes": inputs.notes}
    write_table(out, "ablation", rows, ABLATION_COLUMNS,
                title=f"Ablation over branch subsets ({', '.join(methods)}) on {inputs.eval.split}",
                meta=meta, notes=inputs.notes)
    if not quiet:
        print(to_markdown(rows, ABLATION_COLUMNS), end="")
    return rows
