"""``fer recalibrate``: the command line of ``fer_core.recalibrate`` (imports nothing heavy until it runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fer_core.calibration import CALIBRATION_CHOICES


def register(sub) -> None:
    p = sub.add_parser(
        "recalibrate", help="fit another calibrator to evaluated runs from the logits they saved",
        description="Fit the --calibration calibrator on each run's calibration split (PublicTest) from the logits its "
                    "predictions already hold, and rewrite its artifacts, metrics.json and reliability diagram. No "
                    "weights or data needed. Fusions fit on a recalibrated run must be fit again.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="evaluated face or landmark run directories")
    p.add_argument("--calibration", required=True, choices=CALIBRATION_CHOICES,
                   help="temperature; temperature+bias (a per-class bias fit with T); isotonic (per-class maps after T); "
                        "auto: the one with the lowest 5-fold cross-fitted ECE on the calibration split")
    p.set_defaults(func=run)


def run(args) -> int:
    from fer_core.recalibrate import recalibrate_run

    for run_dir in args.runs:
        before = json.loads((Path(run_dir) / "metrics.json").read_text()) if (Path(run_dir) / "metrics.json").is_file() else {}
        m = recalibrate_run(run_dir, args.calibration)
        kind = (m.get("calibration") or {}).get("kind", "temperature")
        was = f" (was {before['ece']:.2%})" if "ece" in before else ""
        print(f"{run_dir}: {kind} calibration, T {m['temperature']:.3f}: {m['split']} accuracy {m['accuracy']:.2%}, "
              f"ECE {m['ece']:.2%}{was}", file=sys.stderr)
    return 0
