"""Pick test-time views for a finished face run on PublicTest only (PrivateTest is never looked at).

    python bench/tta_select.py MODEL|RUN [...] [--views 1 2 10:1 10:2] [--max-drop 0.3] [--out FILE.json]

A view set is ``1`` (the image), ``2`` (the image and its mirror) or ``10:S`` (both, each also moved S pixels
left, right, up and down). For each run and view set it reports PublicTest accuracy and NLL after a temperature
fit on PublicTest, and the batch-1 latency of one 48x48 face on this machine. MODEL is a published face model
(``fer models list``; the shipped weights are fp16 copies of the run's) or a run directory with ``best.pt``. Views cost time on every photo and
video frame, so the rule weighs both: the view set with the fewest views whose PublicTest accuracy is within
``--max-drop`` points of the most accurate one (ties: lower NLL). Apply it in the run's recipe ``[eval]`` table
and with ``fer face evaluate RUN --set eval.tta_flip=... --set eval.tta_shift_px=...``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_record import timings_ms, write_record  # noqa: E402
from fer_face.inference import VIEW_SETS  # noqa: E402


def choose(rows: list[dict], max_drop: float) -> dict:
    """The row with the fewest views within ``max_drop`` accuracy points of the most accurate one; ties by NLL."""
    best_acc = max(r["accuracy"] for r in rows)
    eligible = [r for r in rows if r["accuracy"] >= best_acc - max_drop / 100]
    return min(eligible, key=lambda r: (r["views"], r["nll"]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="published face model names or finished run directories (best.pt)")
    p.add_argument("--data", type=Path, default=Path(os.environ.get("FER_DATA_ROOT", "data")) / "fer2013.zip")
    p.add_argument("--views", nargs="+", default=["1", "2", "10:1", "10:2"], choices=sorted(VIEW_SETS))
    p.add_argument("--max-drop", type=float, default=0.3,
                   help="accuracy points below the best view set that a faster one may lose (default 0.3)")
    p.add_argument("--threads", type=int, default=2, help="threads for the latency measurement (default 2)")
    p.add_argument("--out", type=Path, default=Path("bench/results/tta_select.json"))
    args = p.parse_args()

    import numpy as np
    import torch

    from fer_core.calibration import calibrated_probs, fit_temperature
    from fer_core.errors import UserError
    from fer_core.metrics import accuracy, nll
    from fer_face.data import load_fer2013
    from fer_core.evaluate import FER2013
    from fer_face.inference import predict_logits
    from fer_face.predict import load_model

    torch.set_num_threads(args.threads)
    try:
        ds = load_fer2013(args.data)
        x, y = ds.split_arrays(FER2013.calibration)
        results = []
        for name_or_run in args.models:
            model = load_model(name_or_run, device="cpu")
            one = np.ascontiguousarray(x[:1])
            rows = []
            for name in args.views:
                flip, shift = VIEW_SETS[name]
                views = {"tta_flip": flip, "tta_shift_px": shift}
                t0 = time.perf_counter()
                z = predict_logits(model.network, x, device=torch.device("cpu"), **views)
                seconds = time.perf_counter() - t0
                t = fit_temperature(z, y)
                probs = calibrated_probs(z, t)
                latency = timings_ms(lambda: predict_logits(model.network, one, device=torch.device("cpu"), **views), 30)
                rows.append({"view_set": name, "views": (2 if flip else 1) * (5 if shift else 1), **views,
                             "accuracy": accuracy(probs, y), "nll": nll(probs, y), "temperature": t,
                             "batch1_ms": round(statistics.median(latency), 2), "seconds": round(seconds, 1)})
                r = rows[-1]
                print(f"{model.source}: {name:>4} views: PublicTest acc {r['accuracy']:.4f} nll {r['nll']:.4f} "
                      f"batch-1 {r['batch1_ms']:.1f} ms", file=sys.stderr, flush=True)
            chosen = choose(rows, args.max_drop)
            results.append({"model": name_or_run, "source": model.source, "rows": rows, "chosen": chosen["view_set"],
                            "chosen_eval": {"tta_flip": chosen["tta_flip"], "tta_shift_px": chosen["tta_shift_px"]}})
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_record(args.out, {"benchmark": "test-time views chosen on PublicTest", "split": FER2013.calibration,
                            "selection": f"fewest views within {args.max_drop} accuracy points of the most "
                                         "accurate one (after temperature scaling), ties by NLL",
                            "threads": args.threads, "models": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
