"""``fer live SOURCE``: the fused emotion of the faces on a camera, a stream or a video played in real time, with
its voice when there is sound (``ensemble.live``), printed as it changes, optionally logged as JSON lines."""

from __future__ import annotations

import argparse
import contextlib
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
        "live", help="live emotion from a camera, a stream or a video played in real time, with its voice",
        description="Scores the newest frame of SOURCE whenever the previous one is done, so the output keeps up "
                    "with the source on any machine (frames that arrive meanwhile are skipped and counted). Faces "
                    "are detected every --every-n-frames scored frames and followed in between; each face's "
                    "branches are averaged over --smooth seconds and fused. Sound (the source's own, or --mic) is "
                    "scored by the speech model every --hop seconds and pooled into every face. Prints a line per "
                    "second of video; --jsonl logs every scored frame. Stop with Ctrl-C, --duration, or at the end "
                    "of a file. Docs: docs/video.md (Live).")
    p.add_argument("source", metavar="SOURCE",
                   help="camera number (0: /dev/video0 on Linux, the first camera on macOS), a capture device "
                        "(/dev/video2), a stream URL (rtsp://, http://, udp://) or a video file (played at its own "
                        "frame rate)")
    p.add_argument("--format", metavar="FMT",
                   help="FFmpeg input format for SOURCE as written (e.g. dshow with 'video=Integrated Camera' on "
                        "Windows, v4l2, avfoundation); default: from SOURCE")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="an FFmpeg input option for SOURCE, repeatable: e.g. framerate=30 (macOS cameras), "
                        "video_size=1280x720, rtsp_transport=tcp")
    add_model_arguments(p)
    p.add_argument("--every-n-frames", type=int, default=3,
                   help="detect faces on every n-th scored frame, follow them in between (default 3)")
    p.add_argument("--max-faces", type=int, default=1, help="faces followed at once, most confident first (default 1)")
    p.add_argument("--smooth", type=float, default=1.0, metavar="S",
                   help="time constant in seconds of each face's running averages (default 1; 0: frame by frame)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of video")
    p.add_argument("--jsonl", metavar="OUT",
                   help="one JSON line per scored frame ('-': stdout, as they come; a file is written when the run "
                        "ends)")
    v = p.add_argument_group("voice")
    v.add_argument("--voice", help="speech model: published name, run directory, or 'none' (default: the shipped "
                                   "one, used when there is sound)")
    v.add_argument("--mic", nargs="?", const="", metavar="DEVICE",
                   help="take the sound from a microphone instead of SOURCE: alone, the system's default one (ALSA "
                        "'default' on Linux, ':0' on macOS); on Windows 'audio=NAME'")
    v.add_argument("--mic-format", metavar="FMT", help="FFmpeg input format of --mic (default: alsa, avfoundation, "
                                                       "dshow by system)")
    v.add_argument("--window", type=float, default=3.0, help="seconds of sound per voice prediction (default 3)")
    v.add_argument("--hop", type=float, default=1.0, help="seconds of sound between voice predictions (default 1)")
    v.add_argument("--no-speech-detection", action="store_true",
                   help="give all loud sound to the speech model, speech or not (by default sound without speech, "
                        "e.g. music, noise or tones, gets no voice prediction)")
    p.set_defaults(func=run_live_cli)


def status_line(update) -> str:
    faces = "; ".join(f"face {f.track}: {f.label} {f.fused[f.label]:.0%}" for f in update.faces if f.label) or "no face"
    voice = update.voice
    if voice is None:
        return f"{update.t:7.1f} s  {faces}"
    return f"{update.t:7.1f} s  {faces}  (voice: {voice.heard})"


def run_live_cli(args: argparse.Namespace) -> int:
    from ensemble.live import LiveOptions, LiveSummary, run_live
    from ensemble.live_source import Microphone, input_options, microphone_source, open_source
    from ensemble.video import VideoPredictor

    recipe.check_flags(args, {"--every-n-frames": AT_LEAST_ONE, "--max-faces": AT_LEAST_ONE, "--smooth": NON_NEGATIVE,
                              "--duration": POSITIVE, "--window": POSITIVE, "--hop": POSITIVE})
    options = LiveOptions(every_n_frames=args.every_n_frames, max_faces=args.max_faces, detector=args.detector,
                          level=not args.no_level, smooth_s=args.smooth, duration_s=args.duration,
                          window_s=args.window, hop_s=args.hop, speech_activity=not args.no_speech_detection)
    options.check()
    if args.mic is not None and args.voice == "none":
        raise UserError("--mic with --voice none: the microphone would not be used; drop one of them")
    to_stdout = args.jsonl == "-"
    status = sys.stderr if to_stdout else sys.stdout
    if args.jsonl and not to_stdout and not Path(args.jsonl).resolve().parent.is_dir():
        raise UserError(f"--jsonl {args.jsonl}: its folder does not exist; create it or write elsewhere")
    lines, costs, last, next_print = [], [], None, 0.0
    # the sources are opened (checked) before any model loads, and read once the models are ready
    options_in = input_options(args.option)
    with open_source(args.source, args.format, options_in) as frames, contextlib.ExitStack() as stack:
        microphone = None
        if args.mic is not None:
            mic = microphone_source(args.mic or None, args.mic_format)
            microphone = Microphone(mic)
            stack.callback(microphone.close)
        has_sound = microphone is not None or frames.has_audio
        predictor = VideoPredictor.load(args.face, args.landmarks, args.fusion,
                                        args.voice if has_sound else "none", face_weights=args.face_weights,
                                        device=args.device)
        sound = "the microphone" if microphone is not None else "its sound" if predictor.voice is not None else None
        print(f"reading {args.source}" + (f" with {sound}" if sound else "") + " (Ctrl-C stops)", file=sys.stderr)
        try:
            for update in run_live(frames, predictor, options, microphone=microphone):
                costs.append(update.seconds)
                last = update
                if args.jsonl:
                    line = json.dumps(update.as_dict())
                    if to_stdout:
                        print(line, flush=True)
                    else:
                        lines.append(line)
                if update.t >= next_print:
                    print(status_line(update), file=status, flush=True)
                    next_print = update.t + 1.0
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        summary = LiveSummary(0.0 if last is None else last.t, frames.read, frames.taken, frames.skipped,
                              1000 * statistics.median(costs) if costs else None)
    if args.jsonl and not to_stdout:
        atomic.write_text(args.jsonl, "".join(f"{line}\n" for line in lines))
        print(f"wrote {args.jsonl}", file=sys.stderr)
    print(summary.line(), file=sys.stderr)
    if predictor.photo.fusion is None and predictor.fusion.voice_fusion is None:
        print("note: no face/landmark fusion applied", file=sys.stderr)
    return 0
