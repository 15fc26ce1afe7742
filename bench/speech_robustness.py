"""Robustness of speech runs on their held-out actors: gain, noise, telephone band, reverberation.

    python bench/speech_robustness.py --data data/ravdess-speech-16k.zip \
        --run before=RUN_A --run after=results/ravdess/speech_cnn_small

Every condition perturbs each held-out clip (``--split test``; ``validation`` to choose a recipe) the same way for every run (one seeded draw per condition),
then scores it with the run's calibrated model. Per run and condition: accuracy, macro-F1, ECE and the
label-flip rate (share of clips whose top label differs from the clean clip's). Babble is the sum of
three clips of *other* test actors. Gains are applied in float without clipping. Writes
bench/results/speech_robustness.json and .md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_record import write_record  # noqa: E402

from fer_core import atomic  # noqa: E402
from fer_core.metrics import ece  # noqa: E402
from fer_audio.augment import add_noise, apply_gain, babble_noise, band_limit, reverb, white_noise  # noqa: E402
from fer_audio.data import load_ravdess  # noqa: E402
from fer_audio.evaluate import load_run_config, saved_split  # noqa: E402
from fer_audio.features import pad_waves  # noqa: E402
from fer_audio.predict import AudioPredictor  # noqa: E402

CONDITIONS = ("clean", "gain -20 dB", "gain -10 dB", "gain +10 dB", "gain +20 dB", "white noise 20 dB SNR",
              "white noise 10 dB SNR", "white noise 5 dB SNR", "babble 20 dB SNR", "babble 10 dB SNR",
              "babble 5 dB SNR", "band-limit 8 kHz", "reverb RT60 0.5 s")
TARGETS = {"flip_rate_gain_20db_max": 0.02, "accuracy_drop_10db_snr_max": 0.05}


def perturb(condition: str, waves: torch.Tensor, lengths: torch.Tensor, speakers: torch.Tensor,
            sample_rate: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    n = len(waves)
    if condition == "clean":
        return waves
    if condition.startswith("gain"):
        return apply_gain(waves, torch.full((n,), float(condition.split()[1])))
    if "noise" in condition or condition.startswith("babble"):
        snr = torch.full((n,), float(condition.split()[-3]))
        noise = (white_noise(tuple(waves.shape), gen) if condition.startswith("white")
                 else babble_noise(waves, lengths, speakers, 3, gen))
        return add_noise(waves, lengths, noise, snr)
    if condition.startswith("band-limit"):
        return band_limit(waves, sample_rate, 8000)
    if condition.startswith("reverb"):
        return reverb(waves, lengths, torch.full((n,), 0.5), sample_rate, gen)
    raise ValueError(condition)


def score(predictor: AudioPredictor, waves: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
    clips = [waves[i, : int(lengths[i])].numpy() for i in range(len(waves))]
    return predictor.calibrator.probs(predictor.logits_for_waves(clips))


def measure(label: str, run: Path, ds, seed: int, split: str = "test") -> dict:
    predictor = AudioPredictor.from_run(run)
    saved = load_run_config(run)
    calm = saved["config"]["data"]["calm"]
    idx = ds.split_indices(saved_split(saved), split)
    labels = ds.labels(calm)[idx]
    waves, lengths = pad_waves([ds.waveform(i) for i in idx])
    speakers = torch.from_numpy(ds.actors[idx])
    rows, clean_top = {}, None
    for k, condition in enumerate(CONDITIONS):
        probs = score(predictor, perturb(condition, waves, lengths, speakers, ds.sample_rate, seed + k), lengths)
        top = probs.argmax(1)
        clean_top = top if clean_top is None else clean_top
        rows[condition] = {"accuracy": float((top == labels).mean()),
                           "macro_f1": float(f1_score(labels, top, average="macro")),
                           "ece": ece(probs, labels), "flip_rate": float((top != clean_top).mean())}
        print(f"{label:>8s}  {condition:24s} acc {rows[condition]['accuracy']:.2%}  "
              f"flip {rows[condition]['flip_rate']:.2%}", file=sys.stderr, flush=True)
    clean = rows["clean"]["accuracy"]
    checks = {
        "flip_rate_gain_20db": max(rows["gain -20 dB"]["flip_rate"], rows["gain +20 dB"]["flip_rate"]),
        "accuracy_drop_10db_snr": max(clean - rows["white noise 10 dB SNR"]["accuracy"],
                                      clean - rows["babble 10 dB SNR"]["accuracy"]),
    }
    return {"run": str(run), "trained_by": saved["command"], "split": split, "n": int(len(idx)),
            "actors": sorted(set(speakers.tolist())),
            "conditions": rows, "checks": checks,
            "targets_met": checks["flip_rate_gain_20db"] <= TARGETS["flip_rate_gain_20db_max"]
            and checks["accuracy_drop_10db_snr"] <= TARGETS["accuracy_drop_10db_snr_max"]}


def to_markdown(result: dict) -> str:
    runs = result["runs"]
    head = "| condition | " + " | ".join(f"{k} acc | {k} macro-F1 | {k} flip" for k in runs) + " |"
    lines = [f"# Speech robustness on the {result['split']} actors", "", f"Command: `{result['command']}`", "",
             head, "|---|" + "---:|---:|---:|" * len(runs)]
    for c in CONDITIONS:
        cells = [f"{r['conditions'][c]['accuracy']:.2%} | {r['conditions'][c]['macro_f1']:.3f} | "
                 f"{r['conditions'][c]['flip_rate']:.2%}" for r in runs.values()]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", "Targets: label flips under +-20 dB gain <= 2 %; accuracy drop at 10 dB SNR (white or babble) "
              "<= 5 points.", ""]
    for k, r in runs.items():
        ch = r["checks"]
        lines.append(f"- **{k}** (`{r['run']}`, trained by `{r['trained_by']}`, n = {r['n']}): flips under +-20 dB {ch['flip_rate_gain_20db']:.2%}, "
                     f"drop at 10 dB SNR {ch['accuracy_drop_10db_snr'] * 100:.1f} points: targets "
                     f"{'met' if r['targets_met'] else 'not met'}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="RAVDESS speech zip or folder (default: data/ravdess-speech-16k.zip)")
    ap.add_argument("--run", action="append", required=True, metavar="LABEL=RUN", help="a speech run (repeatable)")
    ap.add_argument("--split", choices=("test", "validation"), default="test",
                    help="clips of the run's test actors (report) or validation actors (to choose a recipe)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/speech_robustness.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_ravdess(args.data)
    runs = {}
    for item in args.run:
        label, _, run = item.partition("=")
        if not run:
            ap.error(f"--run {item}: expected LABEL=RUN, e.g. after=results/ravdess/speech_cnn_small")
        runs[label] = measure(label, Path(run), ds, args.seed, args.split)
    result = {"conditions": list(CONDITIONS), "targets": TARGETS, "runs": runs, "seed": args.seed, "split": args.split}
    write_record(args.out, result)
    import json

    atomic.write_text(args.out.with_suffix(".md"), to_markdown(json.loads(args.out.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
