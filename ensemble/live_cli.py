"""``fer live SOURCE``: the fused emotion of the faces on a camera, a stream or a video played in real time
(``ensemble.live``), printed as it changes, optionally logged as JSON lines."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from fer_core import atomic, recipe
from fer_core.errors import UserError
from fer_core.recipe import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE

from ensemble.predict_cli import add_model_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "live", help="live emotion from a camera, a stream or a video played in real time",
        description="Scores the newest frame of SOURCE whenever the previous one is done, so the output keeps up "
                    "with the source on any machine (frames that arrive meanwhile are skipped and counted). Faces "
                    "are detected every --every-n-frames scored frames and followed in between; each face's fused "
                    "probabilities are averaged over --smooth seconds. Prints a line per second of video (per "
                    "face: label and confidence); --jsonl logs every scored frame. Stop with Ctrl-C, --duration, "
                    "or at the end of a file. Docs: docs/video.md (Live).")
    p.add_argument("source", metavar="SOURCE",
                   help="camera number (0: /dev/video0 on Linux, the first camera on macOS), a capture device "
                        "(/dev/video2), a stream URL (rtsp://, http://, udp://) or a video file (played at its own "
                        "frame rate)")
    p.add_argument("--format", metavar="FMT",
                   help="FFmpeg input format for SOURCE as written (e.g. dshow with 'video=Integrated Camera' on "
                        "Windows, v4l2, avfoundation); default: from SOURCE")
    add_model_arguments(p)
    p.add_argument("--every-n-frames", type=int, default=3,
                   help="detect faces on every n-th scored frame, follow them in between (default 3)")
    p.add_argument("--max-faces", type=int, default=1, help="faces followed at once, most confident first (default 1)")
    p.add_argument("--smooth", type=float, default=1.0, metavar="S",
                   help="time constant in seconds of each face's running average (default 1; 0: frame by frame)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of video")
    p.add_argument("--jsonl", metavar="OUT",
                   help="one JSON line per scored frame ('-': stdout, as they come; a file is written when the run "
                        "ends)")
    p.set_defaults(func=run_live_cli)


def face_text(face) -> str:
    return f"face {face.track}: {face.label} {face.probs[face.label]:.0%}"


def run_live_cli(args: argparse.Namespace) -> int:
    from ensemble.live import LiveOptions, LiveSummary, open_source, run_live
    from ensemble.photo import PhotoPredictor

    recipe.check_flags(args, {"--every-n-frames": AT_LEAST_ONE, "--max-faces": AT_LEAST_ONE, "--smooth": NON_NEGATIVE,
                              "--duration": POSITIVE})
    options = LiveOptions(every_n_frames=args.every_n_frames, max_faces=args.max_faces, detector=args.detector,
                          smooth_s=args.smooth, duration_s=args.duration)
    options.check()
    to_stdout = args.jsonl == "-"
    status = sys.stderr if to_stdout else sys.stdout
    if args.jsonl and not to_stdout and not Path(args.jsonl).resolve().parent.is_dir():
        raise UserError(f"--jsonl {args.jsonl}: its folder does not exist; create it or write elsewhere")
    lines, costs, last, next_print = [], [], None, 0.0
    with open_source(args.source, args.format) as frames:  # opened (checked) first; read once the models are ready
        predictor = PhotoPredictor.load(args.face, args.landmarks, args.fusion, face_weights=args.face_weights,
                                        device=args.device)
        print(f"reading {args.source} (Ctrl-C stops)", file=sys.stderr)
        try:
            for update in run_live(frames, predictor, options):
                costs.append(update.seconds)
                last = update
                if args.jsonl:
                    line = json.dumps(update.as_dict())
                    if to_stdout:
                        print(line, flush=True)
                    else:
                        lines.append(line)
                if update.t >= next_print:
                    faces = "; ".join(map(face_text, update.faces)) or "no face"
                    print(f"{update.t:7.1f} s  {faces}", file=status, flush=True)
                    next_print = update.t + 1.0
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        summary = LiveSummary(0.0 if last is None else last.t, frames.read, frames.taken, frames.skipped,
                              1000 * statistics.median(costs) if costs else None)
    if args.jsonl and not to_stdout:
        atomic.write_text(args.jsonl, "".join(f"{line}\n" for line in lines))
        print(f"wrote {args.jsonl}", file=sys.stderr)
    print(summary.line(), file=sys.stderr)
    if predictor.fusion is None:
        print("note: no fusion applied (the face branch's label is shown)", file=sys.stderr)
    return 0
