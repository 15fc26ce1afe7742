"""Why a temperature fit on PublicTest leaves PrivateTest ECE above 2 %: a diagnostic, not a calibrator.

    python bench/calibration_shift.py RUN [RUN ...] [--out bench/results/calibration_shift.json]

For each run (any branch or fused run whose PublicTest and PrivateTest artifacts carry logits) it reports:

- ``t_public``: the protocol's temperature, fit by NLL on PublicTest, and its bootstrap 5-95 % interval
  (PublicTest resampled with replacement), i.e. how far the fit moves by sampling alone;
- ``t_private_oracle``: the temperature the same fit would choose on PrivateTest. It reads PrivateTest labels,
  so it is never used for a reported number; it only shows where the protocol's temperature lands;
- PrivateTest ECE at both temperatures, with the 5-95 % ECE band of a perfectly calibrated model
  (``fer_core.metrics.ece_of_perfect_calibration``), and the in-sample PublicTest ECE at ``t_public``;
- ``p_perfect_meets_target``: the share of those perfectly calibrated draws whose ECE is at most ``--target``
  (default 2 %, a common ECE goal): how often a model with nothing left to calibrate would pass it at this n.

If every run's oracle temperature sits below its PublicTest temperature, the two splits differ in a way every model
sees, and a single temperature fit on PublicTest over-softens PrivateTest for all of them.
Writes JSON plus a Markdown table next to it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_record import write_record  # noqa: E402

BOOTSTRAP_DRAWS = 200


def labelled_logits(run: Path, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    from fer_core.artifact import load_run
    from fer_core.errors import UserError

    pred = load_run(run, split)
    if pred.logits is None:
        raise UserError(f"{run}: the {split} artifact has no logits; this diagnostic refits temperatures from them")
    keep = pred.present & (pred.labels >= 0) & np.isfinite(pred.logits).all(1)
    return pred.logits[keep], pred.labels[keep], pred.branch


def bootstrap_temperatures(logits: np.ndarray, labels: np.ndarray, draws: int, seed: int) -> np.ndarray:
    from fer_core.calibration import fit_temperature

    rng = np.random.default_rng(seed)
    n = len(labels)
    return np.array([fit_temperature(logits[idx], labels[idx])
                     for idx in (rng.integers(0, n, n) for _ in range(draws))])


def diagnose(run: Path, draws: int, seed: int, target: float) -> dict:
    from fer_core.calibration import calibrated_probs, fit_temperature
    from fer_core.metrics import accuracy, ece, ece_of_perfect_calibration
    from fer_face.evaluate import CAL_SPLIT, TEST_SPLIT

    pub_logits, pub_labels, branch = labelled_logits(run, CAL_SPLIT)
    prv_logits, prv_labels, _ = labelled_logits(run, TEST_SPLIT)
    t_pub = fit_temperature(pub_logits, pub_labels)
    t_prv = fit_temperature(prv_logits, prv_labels)
    boot = bootstrap_temperatures(pub_logits, pub_labels, draws, seed)
    prv_at_pub = calibrated_probs(prv_logits, t_pub)
    band = ece_of_perfect_calibration(prv_at_pub, seed=seed, at_most=target)
    return {
        "run": str(run), "branch": branch,
        "accuracy_public": accuracy(calibrated_probs(pub_logits, 1.0), pub_labels),
        "accuracy_private": accuracy(prv_at_pub, prv_labels),
        "t_public": t_pub,
        "t_public_bootstrap_5_95": [float(np.percentile(boot, 5)), float(np.percentile(boot, 95))],
        "t_private_oracle": t_prv,
        "t_ratio_private_over_public": t_prv / t_pub,
        "ece_public_in_sample": ece(calibrated_probs(pub_logits, t_pub), pub_labels),
        "ece_private_at_t_public": ece(prv_at_pub, prv_labels),
        "ece_private_at_t_private_oracle": ece(calibrated_probs(prv_logits, t_prv), prv_labels),
        "ece_band_perfect_calibration_5_95": [band["p05"], band["p95"]],
        "ece_target": target,
        "p_perfect_meets_target": band["p_at_most"],
    }


def markdown(rows: list[dict]) -> str:
    pct = lambda x: f"{100 * x:.2f}"  # noqa: E731
    lines = ["| run | branch | acc Public | acc Private | T Public (5-95 % bootstrap) | T Private (oracle) | ratio "
             "| ECE Public in-sample | ECE Private @ T Public | ECE Private @ oracle T | perfect-calibration band "
             "| P(perfect model's ECE <= target) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["t_public_bootstrap_5_95"]
        blo, bhi = r["ece_band_perfect_calibration_5_95"]
        lines.append(f"| {r['run']} | {r['branch']} | {pct(r['accuracy_public'])} | {pct(r['accuracy_private'])} "
                     f"| {r['t_public']:.3f} ({lo:.3f}-{hi:.3f}) | {r['t_private_oracle']:.3f} "
                     f"| {r['t_ratio_private_over_public']:.3f} | {pct(r['ece_public_in_sample'])} "
                     f"| {pct(r['ece_private_at_t_public'])} | {pct(r['ece_private_at_t_private_oracle'])} "
                     f"| {pct(blo)}-{pct(bhi)} | {r['p_perfect_meets_target']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories with PublicTest and PrivateTest artifacts")
    p.add_argument("--out", type=Path, default=Path("bench/results/calibration_shift.json"),
                   help="JSON record; the Markdown table is written next to it (.md)")
    p.add_argument("--draws", type=int, default=BOOTSTRAP_DRAWS, help="bootstrap resamples of PublicTest")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", type=float, default=0.02, help="ECE target (a fraction) for p_perfect_meets_target")
    args = p.parse_args()

    from fer_core.atomic import write_text
    from fer_core.errors import UserError

    if not 0.0 < args.target < 1.0:
        print(f"error: --target {args.target}: an ECE target is a fraction between 0 and 1, e.g. 0.02", file=sys.stderr)
        return 2
    try:
        rows = [diagnose(run, args.draws, args.seed, args.target) for run in args.runs]
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    below = sum(r["t_private_oracle"] < r["t_public"] for r in rows)
    write_record(args.out, {"calibration_split": "PublicTest", "test_split": "PrivateTest",
                            "runs_with_oracle_t_below_t_public": f"{below}/{len(rows)}", "rows": rows})
    write_text(args.out.with_suffix(".md"), markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
