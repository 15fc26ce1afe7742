"""``fer predict``: calibrated, fused emotion probabilities for the faces in photos, folders of photos, or a video.

Out of the box it uses the shipped face and landmark models and the shipped fusion (``fer models list``);
``--face`` / ``--landmarks`` / ``--fusion`` take another published name or a run directory you trained. A video
(``ensemble.video``, docs/video.md) also gets the voice and a timeline per time window.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from fer_core import atomic, recipe
from fer_core.cli import add_device_argument
from fer_core.errors import DataError, UserError
from fer_core.recipe import AT_LEAST_ONE, POSITIVE
from fer_face.faces import PHOTO_SUFFIXES



def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="fused, calibrated emotion of the faces in photos or folders (shipped models, offline)",
        description="For each photo: find the faces (most confident first), and give per face the fused calibrated "
                    "probabilities and top label, each branch's probabilities, the face box and the detector score. "
                    "A folder is read recursively; unreadable files and photos without a face are reported per "
                    "file and the run goes on (exit 2 if any file could not be read).")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IMAGE|DIR", help="photos, face crops or folders of them")
    p.add_argument("--all-faces", action="store_true", help="every face in each photo (default: the most confident)")
    add_model_arguments(p)
    p.add_argument("--min-face", type=int, metavar="PX",
                   help="photos: smallest face side to look for, in px of the photo (default: 80 px at the photo's "
                        "size, smaller photos upscaled); larger values detect faster")
    p.add_argument("--coverage", type=float, metavar="P",
                   help="photos: also each face's conformal prediction set, the labels that hold the true one with "
                        "probability P (0.8, 0.9 or 0.95; calibrated on PublicTest, per class; docs/results.md)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", nargs="?", const="-", metavar="OUT", help="write JSON (to OUT, or stdout)")
    out.add_argument("--csv", metavar="OUT", help="write one CSV row per face to OUT ('-' for stdout)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    v = p.add_argument_group("video (mp4, mkv, webm, mov, avi; docs/video.md)")
    v.add_argument("--voice", help="speech model: published name, run directory, or 'none' (default: shipped)")
    v.add_argument("--every-n-frames", type=int, default=5,
                   help="detect faces on every n-th frame and score them; follow the boxes between (default 5)")
    v.add_argument("--score-every-frame", action="store_true",
                   help="run the face model on the followed box of every frame too (slower, smoother)")
    v.add_argument("--sample-fps", type=float, help="process at most this many frames per second (default: all)")
    v.add_argument("--max-faces", type=int, default=1, help="faces followed at once, most confident first")
    v.add_argument("--max-seconds", type=float, metavar="S",
                   help="longest video accepted, in seconds (default 600, at up to 60 frames/s); a longer one is "
                        "refused before anything is decoded")
    v.add_argument("--window", type=float, default=3.0, help="seconds per fused time window (default 3)")
    v.add_argument("--hop", type=float, default=1.0, help="seconds between window starts (default 1)")
    v.add_argument("--no-speech-detection", action="store_true",
                   help="give every loud window to the speech model, speech or not (by default windows without "
                        "speech, e.g. music, noise or tones, get no voice prediction)")
    v.add_argument("--plot", metavar="OUT.png", help="plot of the fused probabilities over time")
    v.add_argument("--annotate", metavar="OUT.mp4", help="the video with boxes, labels and its sound")
    p.set_defaults(func=run_predict)


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The models and the detector, shared by ``fer predict`` and ``fer live``."""
    p.add_argument("--face", help="face model: a published name or a run directory (default: the shipped one)")
    p.add_argument("--face-weights", type=Path, metavar="FILE",
                   help="weights file of a published face model that does not ship (checked against its sha256)")
    p.add_argument("--landmarks", help="landmark model: published name, run directory, or 'none' (default: shipped)")
    p.add_argument("--fusion", help="fusion: published name, fusion run directory, or 'none' (default: the shipped "
                                    "fusion when the face and landmark models are its members)")
    p.add_argument("--detector", default="hog", choices=("hog", "cnn"),
                   help="face detector (hog: fast, the default; cnn: dlib's CNN, slower; see docs/faces.md)")
    p.add_argument("--no-level", action="store_true",
                   help="cut each face as it stands (default: turned so its eyes are level; docs/faces.md)")
    add_device_argument(p)


def image_files(inputs: list[Path]) -> list[Path]:
    """The photos named or found (recursively, sorted) in the folders named; a missing path is an error.
    Videos in a folder are left out with a warning (a video is scored on its own)."""
    from ensemble.video_decode import is_video

    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            inside = sorted(f for f in path.rglob("*") if f.is_file())
            found = [f for f in inside if f.suffix.lower() in PHOTO_SUFFIXES]
            videos = [f for f in inside if is_video(f)]
            if videos:
                print(f"warning: {path}: {len(videos)} video file(s) left out (a video is scored on its own: "
                      f"fer predict {videos[0]})", file=sys.stderr)
            if not found:
                print(f"warning: {path}: no image files ({', '.join(PHOTO_SUFFIXES)})", file=sys.stderr)
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    return files


def run_predict(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ensemble.photo import PhotoPredictor
    from fer_core.conformal import check_level
    from ensemble.video_decode import is_video

    recipe.check_flags(args, {"--min-face": AT_LEAST_ONE, "--max-seconds": POSITIVE})
    if args.coverage is not None:
        check_level(args.coverage)
    for target in (args.csv, args.json, args.plot, args.annotate):
        if target not in (None, "-"):
            atomic.check_target(target)  # before hours of video, not after

    videos = [p for p in args.inputs if p.is_file() and is_video(p)]
    if videos:
        if len(args.inputs) > 1:
            raise UserError(f"{videos[0]}: give one video at a time (photos and folders go in a separate call)")
        if args.min_face is not None:
            raise UserError("--min-face is for photos; a video detects every --every-n-frames frames and follows "
                            "the faces in between")
        if args.coverage is not None:
            raise UserError("--coverage is for photos; a video's windows pool many frames, for which the sets' "
                            "thresholds were not calibrated")
        return run_video(args, videos[0])
    files = image_files(args.inputs)
    predictor = PhotoPredictor.load(args.face, args.landmarks, args.fusion, face_weights=args.face_weights,
                                    device=args.device)
    if args.coverage is not None:
        predictor.set_thresholds(args.coverage)  # a level or a model without thresholds: refused before any photo
    rows, failed = [], 0
    for path in tqdm(files, desc="photos", unit="photo", disable=args.no_progress or len(files) < 2, file=sys.stderr):
        try:
            faces = predictor.predict(path, all_faces=args.all_faces, detector=args.detector, min_face=args.min_face,
                                      coverage=args.coverage, level=not args.no_level)
        except DataError as e:
            msg = str(e) if str(e).startswith(str(path)) else f"{path}: {e}"
            tqdm.write(f"error: {msg}", file=sys.stderr)
            rows.append({"file": str(path), "error": msg})
            failed += 1
            continue
        if not faces:
            hint = "; --detector cnn finds more faces (slower)" if args.detector == "hog" else ""
            tqdm.write(f"warning: {path}: no face found{hint}", file=sys.stderr)
            rows.append({"file": str(path), "error": "no face found"})
        rows.extend({"file": str(path), **f.as_dict()} for f in faces)
    models = {"face": predictor.face.source, "landmarks": None if predictor.landmarks is None else predictor.landmarks.source,
              "fusion": predictor.fusion_name}
    if args.json:
        _emit(args.json, json.dumps({"models": models, "results": rows}, indent=2) + "\n")
    elif args.csv:
        _emit(args.csv, _csv(rows, predictor))
    else:
        print(_table(rows, predictor))
    if predictor.fusion is None:
        print("note: no fusion applied (the face branch's label is shown)", file=sys.stderr)
    return 2 if failed else 0


def run_video(args: argparse.Namespace, path: Path) -> int:
    from ensemble.video import VideoLimits, VideoOptions, VideoPredictor, predict_video, timeline_table, write_outputs

    options = VideoOptions(every_n_frames=args.every_n_frames, score_every_frame=args.score_every_frame,
                           sample_fps=args.sample_fps, max_faces=args.max_faces,
                           detector=args.detector, level=not args.no_level, window_s=args.window, hop_s=args.hop,
                           speech_activity=not args.no_speech_detection,
                           limits=VideoLimits() if args.max_seconds is None else VideoLimits.of_length(args.max_seconds),
                           progress=not args.no_progress)
    options.check()  # before any model loads
    predictor = VideoPredictor.load(args.face, args.landmarks, args.fusion, args.voice,
                                    face_weights=args.face_weights, device=args.device)
    result = predict_video(path, predictor, options)
    written = write_outputs(result, csv=args.csv, json=args.json, plot=args.plot, annotate=args.annotate,
                            progress=not args.no_progress)
    if not (args.csv or args.json):
        print(timeline_table(result))
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for target in written:
        if target != "-":
            print(f"wrote {target}", file=sys.stderr)
    return 0


def _emit(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
    else:
        atomic.write_text(target, text)
        print(f"wrote {target}", file=sys.stderr)


def _labels(predictor) -> tuple[str, ...]:
    return predictor.fusion.label_space if predictor.fusion is not None else predictor.face.label_space


def _csv(rows: list[dict], predictor) -> str:
    labels = _labels(predictor)
    branches = [predictor.face.branch] + ([predictor.landmarks.branch] if predictor.landmarks is not None else [])
    header = ["file", "face", "left", "top", "right", "bottom", "detector_score", "level_degrees", "label",
              "confidence", "error"]
    header += [f"fused_{c}" for c in labels] + [f"{b}:{c}" for b in branches for c in labels] + ["prediction_set"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for r in rows:
        if "error" in r:
            writer.writerow([r["file"]] + [""] * 9 + [r["error"]] + [""] * (len(header) - 11))
            continue
        box = r["box"] or ("", "", "", "")
        fused = r["fused"] or {}
        line = [r["file"], r["face"], *box, r["detector_score"] if r["detector_score"] is not None else "",
                r["level_degrees"], r["label"], r["confidence"], ""] + [fused.get(c, "") for c in labels]
        line += [(r["branches"].get(b) or {}).get(c, "") for b in branches for c in labels]
        writer.writerow(line + [" ".join(r.get("prediction_set") or [])])
    return buf.getvalue()


def _table(rows: list[dict], predictor) -> str:
    labels = _labels(predictor)
    lines = [f"{'file':<26}{'face':>5}{'box':>20}{'score':>7}{'label':>10}{'conf':>7}  " + " ".join(f"{c[:7]:>7}" for c in labels)
             + ("  set" if any("prediction_set" in r for r in rows) else "")]
    for r in rows:
        if "error" in r:
            lines.append(f"{Path(r['file']).name[:25]:<26}  ({r['error']})")
            continue
        box = "crop" if r["box"] is None else ",".join(map(str, r["box"]))
        score = "" if r["detector_score"] is None else f"{r['detector_score']:.2f}"
        probs = r["fused"] or r["branches"][predictor.face.branch]
        lines.append(f"{Path(r['file']).name[:25]:<26}{r['face']:>5}{box:>20}{score:>7}{r['label']:>10}"
                     f"{r['confidence']:>7.1%}  " + " ".join(f"{probs[c]:>7.3f}" for c in labels)
                     + ("" if "prediction_set" not in r else f"  {{{', '.join(r['prediction_set'])}}}"))
    return "\n".join(lines)
