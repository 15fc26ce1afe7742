"""Batch-1 latency of ``fer predict`` on a 640x480 photo: detection, levelling, crop, face net, landmarks, fusion.

    python bench/predict_latency.py --out bench/results/predict_latency.json

The photo is scikit-image's astronaut placed on a 640x480 canvas (one face). Three configurations: the default
(shipped face model with its 10 test-time views, landmarks, fusion), ``fast`` (``--face vgg48_slim_fast --landmarks
none``: the same weights with 2 views and their own temperature) and ``fast`` with ``--min-face 100`` (the largest that still finds
this photo's face: dlib boxes it at 73 px). Each stage
is timed separately over ``--repeats`` calls after a warm-up, with the thread count given, in ``--rounds``
interleaved rounds; the JSON records the medians over the rounds of each round's median and p90 in milliseconds, the models and their PrivateTest accuracy (from the manifest) and the load
average, since a busy machine measures slower.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench_record import timings_ms
from fer_core import atomic, zoo
from fer_face.faces import DEFAULT_DETECTOR, crop_face, detect_faces, to_gray
from fer_face.level import level_face
from ensemble.photo import PhotoPredictor


def test_photo() -> np.ndarray:
    import skimage.data

    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    canvas.paste(Image.fromarray(skimage.data.astronaut()).resize((400, 400)), (120, 40))
    return np.asarray(canvas)


TARGET_MS = 50


def timed(fn, repeats: int) -> dict[str, float]:
    times = timings_ms(fn, repeats)
    return {"median_ms": round(statistics.median(times), 2), "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2)}


# (name, face model, landmark model, min_face): None takes the shipped default, "none" leaves the branch out
CONFIGS = [("default", None, None, None), ("fast", "vgg48_slim_fast", "none", None),
           ("fast, min-face 100", "vgg48_slim_fast", "none", 100)]


def measure(photo: np.ndarray, face: str | None, landmarks: str | None, min_face: int | None, detector: str,
            repeats: int) -> dict:
    predictor = PhotoPredictor.load(face, landmarks, device="cpu")
    gray = to_gray(photo)
    box = detect_faces(gray, detector, min_face)[0].box
    crop = crop_face(gray, box)
    stages = {
        "detect": timed(lambda: detect_faces(to_gray(photo), detector, min_face), repeats),
        "level": timed(lambda: level_face(gray, box), repeats),
        "face_net": timed(lambda: predictor.face.predict_crops(crop[None]), repeats),
    }
    if predictor.landmarks is not None:
        stages["landmarks"] = timed(lambda: predictor.landmarks.predict_image(crop, mode="crop"), repeats)
    stages["total"] = timed(lambda: predictor.predict(photo, detector=detector, min_face=min_face), repeats)
    face_entry = zoo.load_manifest().named("face", predictor.face.name)
    return {"models": {"face": predictor.face.name, "face_views": predictor.face.views,
                       "landmarks": None if predictor.landmarks is None else predictor.landmarks.name,
                       "fusion": predictor.fusion_name},
            "min_face": min_face,
            "privatetest": {"model": predictor.fusion_name or predictor.face.name,
                            "accuracy": (fusion_metrics(predictor.fusion_name) or face_entry.metrics)["accuracy"],
                            "ece": (fusion_metrics(predictor.fusion_name) or face_entry.metrics)["ece"]},
            "stages": stages, "meets_target": stages["total"]["median_ms"] <= TARGET_MS}


def combined(rounds: list[dict]) -> dict:
    """One configuration's rounds: each stage's median and p90 are the medians over the rounds (this machine's
    speed drifts by tens of percent between minutes), the per-round medians kept beside them."""
    out = {**rounds[0], "stages": {}}
    for stage in rounds[0]["stages"]:
        medians = [r["stages"][stage]["median_ms"] for r in rounds]
        out["stages"][stage] = {"median_ms": round(statistics.median(medians), 2),
                                "p90_ms": round(statistics.median(r["stages"][stage]["p90_ms"] for r in rounds), 2),
                                "round_medians_ms": medians}
    out["meets_target"] = out["stages"]["total"]["median_ms"] <= TARGET_MS
    return out


def fusion_metrics(name: str | None) -> dict | None:
    return None if name is None else zoo.load_manifest().fusion(name).metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="every configuration measured this many times, interleaved")
    ap.add_argument("--detector", default=DEFAULT_DETECTOR)
    ap.add_argument("--out", type=Path, default=Path("bench/results/predict_latency.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    photo = test_photo()
    rounds = [{name: measure(photo, face, landmarks, min_face, args.detector, args.repeats)
               for name, face, landmarks, min_face in CONFIGS} for _ in range(args.rounds)]
    configs = {name: combined([r[name] for r in rounds]) for name, *_ in CONFIGS}
    manifest = zoo.load_manifest()
    result = {
        "benchmark": "fer predict batch-1 latency, 640x480 photo, one face",
        "command": "python bench/predict_latency.py" + "".join(
            f" --{flag} {value}" for flag, value, default in (("repeats", args.repeats, 60), ("rounds", args.rounds, 3),
                                                              ("threads", args.threads, 2)) if value != default),
        "threads": args.threads, "detector": args.detector, "repeats": args.repeats, "rounds": args.rounds,
        "target_ms": TARGET_MS,
        "configs": configs,
        "manifest_sha256": zoo.sha256_file(manifest.root / zoo.MANIFEST_FILE),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in os.getloadavg()]},
        "torch": torch.__version__,
    }
    atomic.write_json(args.out, result)
    for name, c in configs.items():
        print(f"{name:<20} " + "  ".join(f"{stage} {v['median_ms']:.1f}" for stage, v in c["stages"].items())
              + f" ms  (PrivateTest {c['privatetest']['accuracy']:.2%})")


if __name__ == "__main__":
    main()
