"""Choose each backbone's reference run among finished candidates, on PublicTest only.

    python bench/select_reference.py RUN [RUN ...] [--out bench/results/reference_selection.json]

Runs are grouped by the backbone in their metrics.json. Within a group the run with the highest PublicTest
accuracy wins (ties: lower PublicTest NLL). PrivateTest is never read, so the reported PrivateTest numbers of
the chosen runs stay an honest test. The JSON maps each backbone to its chosen run and every candidate's scores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_record import write_record  # noqa: E402


def score(run: Path) -> dict:
    from fer_core.artifact import load_run
    from fer_core.errors import UserError
    from fer_core.metrics import accuracy, nll
    from fer_face.evaluate import CAL_SPLIT

    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        raise UserError(f"{run}: no metrics.json; pass finished face run directories")
    backbone = json.loads(metrics_path.read_text()).get("backbone")
    if not backbone:
        raise UserError(f"{metrics_path}: no 'backbone' field; only face runs can be selected here")
    pred = load_run(run, CAL_SPLIT)  # the split every run's checkpoint and temperature were chosen on
    keep = (pred.labels >= 0) & pred.present
    return {"run": str(run), "backbone": backbone,
            "publictest_accuracy": accuracy(pred.probs[keep], pred.labels[keep]),
            "publictest_nll": nll(pred.probs[keep], pred.labels[keep])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="finished face run directories")
    p.add_argument("--out", type=Path, default=Path("bench/results/reference_selection.json"))
    args = p.parse_args()

    from fer_core.errors import UserError
    from fer_face.evaluate import CAL_SPLIT

    try:
        scores = [score(run) for run in args.runs]
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    selection: dict[str, dict] = {}
    for s in scores:
        selection.setdefault(s["backbone"], {"candidates": []})["candidates"].append(s)
    for group in selection.values():
        best = max(group["candidates"], key=lambda s: (s["publictest_accuracy"], -s["publictest_nll"]))
        group["chosen"] = best["run"]
    write_record(args.out, {"selection_split": CAL_SPLIT, "rule": "max accuracy, ties: min NLL",
                            "backbones": selection})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
