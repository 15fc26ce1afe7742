"""Write a thermal run directory for the samples of an existing run (a stand-in for a real model).

    python -m fer_thermal_example.simulate --like results/fer2013/vgg48_slim --out runs/thermal

Shows the whole branch protocol: predictions over the branch's own label space, a present mask
(the camera missed some samples), temperature calibration on the fit split with fer_core's shared
calibration, and one fer_core predictions artifact per split.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from fer_core.artifact import Predictions, artifact_path, load_run
from fer_core.calibration import calibrated_probs, fit_temperature

from fer_thermal_example.branch import ThermalBranch


def simulate(like: Path, out: Path, *, splits=("PublicTest", "PrivateTest"), strength: float = 1.5,
             missing: float = 0.1, seed: int = 0, command: str = "") -> dict[str, Predictions]:
    """Noisy logits that favour each sample's true class; ``splits[0]`` is the calibration split."""
    rng = np.random.default_rng(seed)
    to_column = {ThermalBranch.label_map.get(lab, lab): k for k, lab in enumerate(ThermalBranch.label_space)}
    refs = {s: load_run(like, s) for s in splits}
    logits, present, labels = {}, {}, {}
    for split, ref in refs.items():
        labels[split] = np.array([to_column[ref.label_space[y]] if y >= 0 else -1 for y in ref.labels])
        z = rng.normal(size=(ref.n, len(ThermalBranch.label_space)))
        known = labels[split] >= 0
        z[np.flatnonzero(known), labels[split][known]] += strength
        logits[split] = 2.0 * z  # over-confident on purpose: calibration fixes it
        present[split] = rng.uniform(size=ref.n) >= missing
    cal = splits[0]
    keep = present[cal] & (labels[cal] >= 0)
    temperature = fit_temperature(logits[cal][keep], labels[cal][keep])
    written = {}
    for split, ref in refs.items():
        probs = calibrated_probs(logits[split], temperature)
        probs[~present[split]] = np.nan  # absent rows carry no prediction
        written[split] = Predictions(
            ids=ref.ids, labels=labels[split], probs=probs, present=present[split], logits=logits[split],
            label_space=ThermalBranch.label_space, branch="thermal/simulated", modality=ThermalBranch.modality,
            dataset=ref.dataset, split=split, temperature=temperature, calibration_split=cal, fit_splits=[],
            command=command, extra={"strength": strength, "missing": missing, "seed": seed},
        )
        written[split].save(artifact_path(out, split))
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m fer_thermal_example.simulate", description=__doc__.split("\n")[0])
    p.add_argument("--like", type=Path, required=True, help="run directory whose samples (ids, labels) to predict")
    p.add_argument("--out", type=Path, required=True, help="thermal run directory to write")
    p.add_argument("--splits", nargs="+", default=["PublicTest", "PrivateTest"], help="first one calibrates")
    p.add_argument("--strength", type=float, default=1.5, help="signal strength (0 = a useless branch)")
    p.add_argument("--missing", type=float, default=0.1, help="fraction of samples the camera missed")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    command = " ".join(["python -m fer_thermal_example.simulate", *map(shlex.quote, argv)])
    simulate(a.like, a.out, splits=tuple(a.splits), strength=a.strength, missing=a.missing, seed=a.seed, command=command)
    print(f"wrote {a.out}/predictions/{{{','.join(a.splits)}}}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
