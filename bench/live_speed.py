"""Live speed: how many frames ``fer live`` scores per second while a 30 frames/s source plays in real time.

    python bench/live_speed.py [--seconds 20] [--fps 30] [--threads 2]

The source is the video bench's clip (``bench/video_speed.py``: 640x480, scikit-image's astronaut sliding across a
plain background, her face about 90 px, with speech from espeak-ng or a voice-like tone), played at its own frame
rate as a camera would deliver it. For each model set (the shipped defaults with the voice; the same with every
face cut as it stands, ``--no-level``; the fast path: ``vgg48_slim_fast`` without landmarks, with the voice; the
fast path without the voice) the record gives the frames scored per second, the share of the source's frames scored
(the rest are skipped to keep up), the median and 90th percentile milliseconds a scored frame takes (detection
frames included; the voice's prediction on the frames where one is due), the seconds from the start to the first
voice prediction, and the labels shown. The JSON records the load average: numbers taken on a busy machine are
slower.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from bench_record import write_record
from ensemble.live import DEFAULT_EVERY_N_FRAMES, LiveOptions, run_live
from ensemble.live_source import open_source
from ensemble.video import VideoPredictor
from video_speed import HEIGHT, WIDTH, write_clip

MODEL_SETS = {  # name -> (face, landmarks, voice, level)
    "default (face + landmarks + fusion, voice)": (None, None, None, True),
    "default, faces cut as they stand (--no-level)": (None, None, None, False),
    "fast path (vgg48_slim_fast, no landmarks), voice": ("vgg48_slim_fast", "none", None, True),
    "fast path, no voice": ("vgg48_slim_fast", "none", "none", True),
}


def measure(clip: Path, predictor: VideoPredictor, level: bool = True) -> dict:
    with open_source(str(clip)) as frames:
        updates = list(run_live(frames, predictor, LiveOptions(level=level)))
        read = frames.read
    ms = np.array([1000 * u.seconds for u in updates])
    seconds = updates[-1].t if updates else 0.0
    voiced = [u.t for u in updates if u.voice is not None]
    labels = Counter(f.label for u in updates for f in u.faces)
    return {"frames_read": read, "frames_scored": len(updates),
            "scored_per_s": round(len(updates) / seconds, 1) if seconds else None,
            "share_scored": round(len(updates) / read, 3) if read else None,
            "median_ms": round(float(np.median(ms)), 1), "p90_ms": round(float(np.percentile(ms, 90)), 1),
            "first_voice_at_s": round(voiced[0], 2) if voiced else None,
            "labels": dict(labels.most_common())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench/results/live_speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = [round(v, 2) for v in os.getloadavg()]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "astronaut.mp4"
        sound = write_clip(clip, args.seconds, args.fps)
        for name, (face, landmarks, voice, level) in MODEL_SETS.items():
            predictor = VideoPredictor.load(face, landmarks, None, voice, device="cpu")
            rows[name] = {"models": predictor.models(), **measure(clip, predictor, level)}
            print(name, rows[name], file=sys.stderr)
    write_record(args.out, {
        "benchmark": "live: frames scored per second while a 30 frames/s source plays in real time",
        "clip": {"width": WIDTH, "height": HEIGHT, "fps": args.fps, "seconds": args.seconds, "sound": sound},
        "threads": args.threads, "every_n_frames": DEFAULT_EVERY_N_FRAMES, "load_average_before": load_before,
        "runs": rows,
    })


if __name__ == "__main__":
    main()
