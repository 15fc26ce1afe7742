"""Video speed: the face path's frames per second, and a whole clip with sound against its duration.

    python bench/video_speed.py [--seconds 20] [--fps 30] [--threads 2] [--every 1 3 5 10] [--sample-fps 10]
                                [--face NAME|RUN]

The clip (written with PyAV as H.264 + AAC MP4): 640x480, scikit-image's astronaut (400 px, her face about 90 px)
sliding across a plain background; the soundtrack is speech from ``espeak-ng`` when it is on PATH, else a
synthesised voice-like tone (220 Hz with harmonics, syllable-rate loudness changes, a pause every 4 s).

Measured, with ``--threads`` torch threads:

* stage costs (median ms): decode + grey conversion per frame, face detection (whole frame, and the region
  around the tracked face that most detection frames search), crop, levelling the eyes (the crop's
  landmarks fitted twice, the face cut turned), face network per crop in batches of 64, landmark model per crop,
  one dlib correlation-tracker update;
* the face path (decode, detection every k frames, following, crops, face and landmark networks on detection
  frames; no sound) in video frames per second, for each k of ``--every`` with ``follow="hold"``, for the
  default k with ``follow="correlation"``, with the whole frame searched on every detection (``rescan_every=1``),
  with the face network on every frame (``score_every_frame``), and
  for the default k processing only ``--sample-fps`` frames a second; for each, how often its fused window
  labels agree with those of the every-frame run and the largest probability difference;
* the boxes' quality at the default k: mean IoU of the followed box with the true one (the face's box on the
  first frame moved as the picture moves), for "hold" and "correlation";
* the whole clip with sound (default options: face path + speech windows + fusion) in seconds, against its
  duration.

Face model: ``--face``, else the shipped default face model, else the published recipe's network
(fer2013/vgg48_slim with its 10 test-time views) with random weights: the same cost, meaningless predictions
(recorded in the JSON). Targets: the face path >= 30 frames/s at the default k; the whole clip in less time than
it lasts. The JSON records the load average: numbers taken on a busy machine are slower.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import dlib
import numpy as np
import skimage.data
import soundfile
import torch
from PIL import Image

from bench_record import median_ms, write_record
from ensemble.photo import PhotoPredictor
from ensemble.video import DEFAULT_EVERY_N_FRAMES, VideoOptions, VideoPredictor, predict_video
from ensemble.video_decode import iter_frames, probe_video
from fer_face.faces import iou
from fer_audio import predict as audio_predict
from fer_audio.decode import to_mono_at
from fer_core import zoo
from fer_core.calibration import Calibrator
from fer_core.errors import UserError
from fer_core.labels import FER7
from fer_face import predict as face_predict
from fer_face.config import load_recipe
from fer_face.faces import crop_face, detect_faces, detect_faces_near
from fer_face.level import level_face
from fer_face.inference import tta_settings
from fer_face.landmarks import predict as landmark_predict
from fer_face.models import model_from_config
from fer_face.predict import FaceModel

WIDTH, HEIGHT, PICTURE = 640, 480, 400
SAMPLE_RATE = 16000
TIMING_RECIPE = "fer2013/vgg48_slim"


def picture_left(i: int, n: int) -> int:
    return round(i * (WIDTH - PICTURE) / max(1, n - 1))


def speech_or_tone(seconds: float) -> tuple[np.ndarray, str]:
    n = round(seconds * SAMPLE_RATE)
    espeak = shutil.which("espeak-ng")
    if espeak:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            text = "I can't believe it, this is wonderful news. " * 8
            subprocess.run([espeak, "-w", str(wav), text], check=True, capture_output=True)
            samples, rate = soundfile.read(wav, dtype="float32", always_2d=True)
        voice = to_mono_at(samples, rate, SAMPLE_RATE)
        return np.resize(voice, n) * 0.8, "espeak-ng speech"
    t = np.arange(n) / SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in (1, 2, 3))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    pauses = (t % 4.0) < 3.0
    return (0.2 * tone * syllables * pauses).astype(np.float32), "synthesised tone (no espeak-ng on PATH)"


def write_clip(path: Path, seconds: float, fps: int) -> str:
    picture = Image.fromarray(skimage.data.astronaut()).resize((PICTURE, PICTURE), Image.Resampling.BILINEAR)
    n = round(seconds * fps)
    wave, sound = speech_or_tone(seconds)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        for i in range(n):
            canvas = Image.new("RGB", (WIDTH, HEIGHT), (96, 112, 128))
            canvas.paste(picture, (picture_left(i, n), (HEIGHT - PICTURE) // 2))
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")))
        out.mux(video.encode())
        frame = av.AudioFrame.from_ndarray(wave[None], format="flt", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, 0
        out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return sound


def face_model(name: str | None) -> tuple[FaceModel, str]:
    if name is not None:
        model = face_predict.load_model(name, device="cpu")
        return model, model.source
    try:
        model = face_predict.load_model(device="cpu")
        return model, model.source
    except UserError:
        cfg = load_recipe(TIMING_RECIPE)
        network = model_from_config({**cfg["model"], "pretrained": False}, len(FER7)).eval()
        model = FaceModel(network, name=cfg["model"]["backbone"], label_space=FER7, calibrator=Calibrator(1.0),
                          views=tta_settings(cfg["eval"]), fingerprint="timing-only", source="random weights",
                          device=torch.device("cpu"))
        return model, f"{TIMING_RECIPE} network with random weights (timing only: no face model is shipped)"


def stage_costs(clip: Path, photo: PhotoPredictor, repeats: int) -> dict[str, float]:
    info = probe_video(clip)
    decode_start = time.perf_counter()
    grays = [gray for _, _, gray in iter_frames(info)]
    decode_ms = (time.perf_counter() - decode_start) * 1000 / len(grays)
    gray = grays[0]
    box = detect_faces(gray)[0].box
    crop = crop_face(gray, box)
    batch = np.repeat(crop[None], 64, axis=0)
    follower = dlib.correlation_tracker()
    follower.start_track(gray, dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1))
    costs = {"decode_gray_per_frame": round(decode_ms, 2),
             "detect": median_ms(lambda: detect_faces(gray), repeats),
             "detect_near_tracked_face": median_ms(lambda: detect_faces_near(gray, [box]), repeats),
             "crop": median_ms(lambda: crop_face(gray, box), repeats),
             "level_eyes": median_ms(lambda: level_face(gray, box), repeats),  # two landmark fits, two turned cuts
             "face_net_per_crop_batch64": round(median_ms(lambda: photo.face.predict_crops(batch),
                                                          max(3, repeats // 5)) / 64, 2),
             "correlation_update": median_ms(lambda: follower.update(grays[1]), repeats)}
    if photo.landmarks is not None:
        costs["landmarks_per_crop"] = median_ms(lambda: photo.landmarks.predict_image(crop, mode="crop"), repeats)
    return costs


def true_boxes(clip: Path) -> tuple[dict[int, tuple[int, int, int, int]], int]:
    """The face box on every frame: the box found on the first frame, moved with the picture."""
    info = probe_video(clip)
    first = next(gray for _, _, gray in iter_frames(info))
    left, top, right, bottom = detect_faces(first)[0].box
    n = info.frame_count
    shift = {i: picture_left(i, n) - picture_left(0, n) for i in range(n)}
    return {i: (left + dx, top, right + dx, bottom) for i, dx in shift.items()}, n


def mean_iou(result, truth: dict[int, tuple[int, int, int, int]]) -> float:
    scores = [max((iou(box, truth[f.index]) for _, box in f.boxes), default=0.0) for f in result.frames]
    return round(float(np.mean(scores)), 3)


def agreement(result, reference) -> dict:
    """How far a run's fused windows are from those of the reference run (the face model on every frame)."""
    ours = {(r.start, r.track): r for r in result.rows if r.fused is not None}
    pairs = [(ours[k], r) for k, r in ((k, r) for r in reference.rows for k in [(r.start, r.track)])
             if k in ours and r.fused is not None]
    if not pairs:
        return {"windows_compared": 0}
    same = sum(a.label == b.label for a, b in pairs)
    diff = max(abs(a.fused[c] - b.fused[c]) for a, b in pairs for c in b.fused)
    return {"windows_compared": len(pairs), "same_label_as_every_frame": round(same / len(pairs), 3),
            "max_prob_diff_vs_every_frame": round(float(diff), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--every", type=int, nargs="+", default=[1, 3, 5, 10], help="detection cadences to time")
    ap.add_argument("--sample-fps", type=float, nargs="*", default=[10.0],
                    help="also time the default cadence processing only this many frames per second")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--face", help="face model (published name or run directory); default: see above")
    ap.add_argument("--out", type=Path, default=Path("bench/results/video_speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = [round(v, 2) for v in os.getloadavg()]
    face, face_source = face_model(args.face)
    photo = PhotoPredictor(face, landmark_predict.load_model())
    predictor = VideoPredictor(photo, audio_predict.load_model(device="cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "astronaut.mp4"
        sound = write_clip(clip, args.seconds, args.fps)
        costs = stage_costs(clip, photo, args.repeats)
        truth, n_frames = true_boxes(clip)
        rescan = VideoOptions().rescan_every
        settings = [(DEFAULT_EVERY_N_FRAMES, "hold", None, True, rescan)]  # the reference: face model on every frame
        settings += [(every, "hold", None, False, rescan) for every in sorted(set(args.every) | {DEFAULT_EVERY_N_FRAMES})]
        settings += [(DEFAULT_EVERY_N_FRAMES, "hold", None, False, 1)]  # the whole frame on every detection
        settings += [(DEFAULT_EVERY_N_FRAMES, "correlation", None, False, rescan)]
        settings += [(DEFAULT_EVERY_N_FRAMES, "hold", fps, False, rescan) for fps in args.sample_fps]
        face_path, reference = [], None
        for every, follow, sample_fps, score_every_frame, rescan_every in settings:
            result = predict_video(clip, predictor, VideoOptions(
                every_n_frames=every, follow=follow, sample_fps=sample_fps, score_every_frame=score_every_frame,
                rescan_every=rescan_every, use_audio=False, progress=False))
            reference = reference or result
            seconds = result.seconds["face_path"]
            face_path.append({"every_n_frames": every, "follow": follow, "sample_fps": sample_fps,
                              "score_every_frame": score_every_frame, "rescan_every": rescan_every,
                              "seconds": round(seconds, 3),
                              "frames_per_s": round(n_frames / seconds, 1), "processed_frames": len(result.frames),
                              "mean_iou": mean_iou(result, truth), "tracks": len(result.tracks),
                              **agreement(result, reference)})
            print(face_path[-1], file=sys.stderr)
        whole = predict_video(clip, predictor, VideoOptions(progress=False))
    default_row = next(r for r in face_path if r["every_n_frames"] == DEFAULT_EVERY_N_FRAMES and r["follow"] == "hold"
                       and r["sample_fps"] is None and not r["score_every_frame"] and r["rescan_every"] == rescan)
    manifest = zoo.load_manifest()
    write_record(args.out, {
        "benchmark": "video: face path frames/s and a whole clip with sound vs its duration",
        "clip": {"width": WIDTH, "height": HEIGHT, "fps": args.fps, "seconds": args.seconds, "frames": n_frames,
                 "sound": sound, "face": "scikit-image astronaut, 400 px picture sliding left to right"},
        "threads": args.threads,
        "models": {"face": face_source, "face_views": face.views,
                   "landmarks": None if photo.landmarks is None else photo.landmarks.source,
                   "voice": predictor.voice.source},
        "stage_ms": costs,
        "face_path": face_path,
        "whole_clip": {"options": f"defaults (every_n_frames={DEFAULT_EVERY_N_FRAMES}, rescan_every={rescan}, "
                                  "follow=hold, window 3 s, hop 1 s)",
                       "seconds": {k: round(v, 3) for k, v in whole.seconds.items()}, "clip_seconds": args.seconds,
                       "realtime_factor": round(whole.seconds["total"] / args.seconds, 3),
                       "windows": len(whole.rows), "sound_windows": sum(bool(r.sound) for r in whole.rows)},
        "targets": {"face_path_frames_per_s": 30, "whole_clip_realtime_factor_below": 1.0},
        "meets_targets": {"face_path": default_row["frames_per_s"] >= 30,
                          "whole_clip": whole.seconds["total"] < args.seconds},
        "load_average_before": load_before, "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "niceness": os.nice(0),
        "manifest_sha256": zoo.sha256_file(manifest.root / zoo.MANIFEST_FILE),
    })


if __name__ == "__main__":
    main()
