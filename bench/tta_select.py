"""Pick test-time views for a finished face run on PublicTest only (PrivateTest is never looked at).

    python bench/tta_select.py RUN [RUN ...] [--shifts 0 1 2 3] [--out bench/results/tta_select.json]

For each run and each shift (0 = the original view; s > 0 adds the four views moved s pixels, each also
mirrored when the run uses flip-TTA) it reports PublicTest accuracy and NLL after a temperature fit on
PublicTest. The shift with the lowest NLL (ties: higher accuracy) is the one to apply with
``fer face evaluate RUN --set eval.tta_shift_px=S``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_record import write_record  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="finished face run directories (with best.pt)")
    p.add_argument("--data", type=Path, default=Path(os.environ.get("FER_DATA_ROOT", "data")) / "fer2013.zip")
    p.add_argument("--shifts", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--out", type=Path, default=Path("bench/results/tta_select.json"))
    args = p.parse_args()

    import torch

    from fer_core.calibration import calibrated_probs, fit_temperature
    from fer_core.errors import UserError
    from fer_core.metrics import accuracy, nll
    from fer_face.data import load_fer2013
    from fer_face.evaluate import CAL_SPLIT, load_run_model
    from fer_face.inference import predict_logits, tta_settings

    try:
        ds = load_fer2013(args.data)
        x, y = ds.split_arrays(CAL_SPLIT)
        results = []
        for run in args.runs:
            model, saved = load_run_model(run, torch.device("cpu"))
            cfg = saved["config"]
            rows = []
            for shift in args.shifts:
                t0 = time.perf_counter()
                views = {**tta_settings(cfg["eval"]), "tta_shift_px": shift}
                z = predict_logits(model, x, device=torch.device("cpu"), batch_size=cfg["eval"]["batch_size"],
                                   channels_last=cfg["train"].get("channels_last", True), **views)
                t = fit_temperature(z, y)
                probs = calibrated_probs(z, t)
                rows.append({"tta_shift_px": shift, "accuracy": accuracy(probs, y), "nll": nll(probs, y), "temperature": t,
                             "seconds": round(time.perf_counter() - t0, 1)})
                print(f"{run}: shift {shift}: PublicTest acc {rows[-1]['accuracy']:.4f} nll {rows[-1]['nll']:.4f}",
                      file=sys.stderr, flush=True)
            best = min(rows, key=lambda r: (r["nll"], -r["accuracy"]))
            results.append({"run": str(run), "tta_flip": views["tta_flip"], "rows": rows,
                            "chosen_tta_shift_px": best["tta_shift_px"]})
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_record(args.out, {"benchmark": "test-time views chosen on PublicTest", "split": CAL_SPLIT,
                            "selection": "lowest NLL after temperature scaling, ties by accuracy", "runs": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
