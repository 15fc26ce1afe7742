"""Write a video's timeline: CSV and JSON tables, a PNG plot of the fused probabilities, an annotated MP4.

Every file is written atomically (a temporary file next to it, renamed when complete): a killed run never leaves
a half-written file behind. ``"-"`` as the CSV or JSON target writes to stdout.

The annotated video has the input's frames, one output frame per input frame (H.264, constant frame rate at the
input's average rate, cropped to even width and height as H.264 needs), each tracked face boxed and labelled with
its track id and the fused label of the window whose centre is nearest that frame, and the input's soundtrack
re-encoded as AAC, lined up with the first video frame.
"""

from __future__ import annotations

import csv as csv_module
import io
import json as json_module
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont
from tqdm.auto import tqdm

from fer_core import atomic
from fer_core.errors import UserError

from ensemble.video_decode import decode_soundtrack, iter_frames
from ensemble.video_result import Box, VideoResult

STDOUT = "-"
TRACK_COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240))
AUDIO_CHUNK = 1024  # samples per encoded audio frame


def write_outputs(result: VideoResult, *, csv: str | Path | None = None, json: str | Path | None = None,
                  plot: str | Path | None = None, annotate: str | Path | None = None,
                  progress: bool = True) -> list[str]:
    """Write the outputs asked for; returns what was written (paths, or "-" for stdout)."""
    if annotate is not None:
        _check_annotate_target(result, Path(annotate))
    written = []
    if csv is not None:
        _emit(csv, timeline_csv(result))
        written.append(str(csv))
    if json is not None:
        _emit(json, json_module.dumps(result.as_dict(), indent=2, allow_nan=False) + "\n")
        written.append(str(json))
    if plot is not None:
        write_plot(result, plot)
        written.append(str(plot))
    if annotate is not None:
        write_annotated(result, annotate, progress=progress)
        written.append(str(annotate))
    return written


def _emit(target: str | Path, text: str) -> None:
    if str(target) == STDOUT:
        sys.stdout.write(text)
    else:
        atomic.write_text(target, text)


def timeline_csv(result: VideoResult) -> str:
    """One row per time window and track: times, counts, label, fused, face side and per-branch probabilities."""
    labels = result.label_space
    branches = result.branch_names
    branch_labels = {b: next((tuple(r.branches[b]) for r in result.rows if r.branches[b] is not None), labels)
                     for b in branches}
    header = ["start", "end", "track", "face_frames", "landmark_frames", "sound", "sound_db", "speech", "label",
              "confidence"]
    header += [f"fused_{c}" for c in labels] + [f"face_side_{c}" for c in labels]
    header += [f"{b}:{c}" for b in branches for c in branch_labels[b]]
    buf = io.StringIO()
    writer = csv_module.writer(buf)
    writer.writerow(header)
    blank = lambda v: "" if v is None else v  # noqa: E731
    for r in result.rows:
        d = r.as_dict()
        line = [d["start"], d["end"], blank(d["track"]), d["face_frames"], d["landmark_frames"], blank(d["sound"]),
                blank(d["sound_db"]), blank(d["speech"]), blank(d["label"]), blank(d["confidence"])]
        line += [(d["fused"] or {}).get(c, "") for c in labels] + [(d["face_side"] or {}).get(c, "") for c in labels]
        line += [(d["branches"][b] or {}).get(c, "") for b in branches for c in branch_labels[b]]
        writer.writerow(line)
    return buf.getvalue()


def timeline_table(result: VideoResult) -> str:
    """The timeline for a terminal: window, track, sound, label, confidence and the fused probabilities."""
    labels = result.label_space
    lines = [f"{'start':>7}{'end':>7}{'track':>6}{'sound':>6}{'label':>10}{'conf':>7}  "
             + " ".join(f"{c[:7]:>7}" for c in labels)]
    for r in result.rows:
        sound = "" if r.sound is None else ("yes" if r.sound else "no")
        track = "-" if r.track is None else str(r.track)
        probs = " ".join(f"{r.fused[c]:>7.3f}" for c in labels) if r.fused is not None else "(no face, no sound)"
        conf = "" if r.confidence is None else f"{r.confidence:.1%}"
        lines.append(f"{r.start:>7.2f}{r.end:>7.2f}{track:>6}{sound:>6}{r.label or '':>10}{conf:>7}  {probs}")
    return "\n".join(lines)


def _series(result: VideoResult) -> dict[int | None, list[tuple[float, dict[str, float] | None]]]:
    """Track (None: no face) -> (window centre, fused probabilities) in time order."""
    out: dict[int | None, list[tuple[float, dict[str, float] | None]]] = {}
    for r in result.rows:
        out.setdefault(r.track, []).append(((r.start + r.end) / 2, r.fused))
    return out


def write_plot(result: VideoResult, path: str | Path) -> None:
    """Fused probabilities over time (window centres), one panel per face track (and one for windows without a
    face); gaps where a window has no prediction."""
    series = _series(result)
    order = sorted((k for k in series if k is not None)) + ([None] if None in series else [])
    fig = Figure(figsize=(10, 1.2 + 2.6 * max(1, len(order))), layout="constrained")
    axes = fig.subplots(max(1, len(order)), 1, sharex=True, squeeze=False)[:, 0]
    for ax, track in zip(axes, order):
        points = series[track]
        x = [t for t, _ in points]
        for label in result.label_space:
            ax.plot(x, [np.nan if p is None else p[label] for _, p in points], marker=".", label=label)
        ax.set(ylim=(0, 1), ylabel="probability",
               title=f"track {track}" if track is not None else "no face tracked (voice only)")
        ax.set_xlim(0, result.info.duration)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(result.label_space))
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{result.info.path.name}: fused emotion probabilities per {result.options['window_s']:g} s window")
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _check_annotate_target(result: VideoResult, path: Path) -> None:
    if path.suffix.lower() != ".mp4":
        raise UserError(f"{path}: the annotated video is an MP4; name it *.mp4")
    if path.exists() and path.resolve() == result.info.path.resolve():
        raise UserError(f"{path}: the annotated video would overwrite its input; choose another name")


def labels_by_track(result: VideoResult) -> dict[int, list[tuple[float, str, float]]]:
    """Per track id: (window centre in s, fused label, confidence) of every window with a label."""
    out: dict[int, list[tuple[float, str, float]]] = {}
    for r in result.rows:
        if r.track is not None and r.label is not None:
            out.setdefault(r.track, []).append(((r.start + r.end) / 2, r.label, r.confidence))
    return out


def nearest_label(entries: list[tuple[float, str, float]], t: float) -> tuple[str, float] | None:
    """The label and confidence of the window whose centre is nearest to ``t`` seconds (None: no window)."""
    if not entries:
        return None
    _, label, confidence = min(entries, key=lambda e: abs(e[0] - t))
    return label, confidence


def draw_tracks(image: Image.Image, boxes: tuple[tuple[int, Box], ...],
                labels: dict[int, list[tuple[float, str, float]]], t: float, font: Any) -> None:
    """Draw each tracked box with its track id and the label nearest in time, on ``image`` in place."""
    draw = ImageDraw.Draw(image)
    line = max(2, image.width // 320)
    for track, box in boxes:
        colour = TRACK_COLOURS[track % len(TRACK_COLOURS)]
        draw.rectangle(box, outline=colour, width=line)
        found = nearest_label(labels.get(track, []), t)
        text = f"#{track} " + (f"{found[0]} {found[1]:.0%}" if found else "?")
        left, top, right, bottom = draw.textbbox((box[0], box[1]), text, font=font)
        y = max(0, box[1] - (bottom - top) - 2 * line)
        draw.rectangle((box[0], y, box[0] + right - left + 2 * line, y + bottom - top + 2 * line), fill=colour)
        draw.text((box[0] + line, y + line - (top - box[1])), text, fill=(255, 255, 255), font=font)


def write_annotated(result: VideoResult, path: str | Path, *, progress: bool = True) -> None:
    """The input video with boxes and labels drawn on every frame, its soundtrack muxed back (AAC)."""
    path = Path(path)
    _check_annotate_target(result, path)
    info = result.info
    width, height = info.width - info.width % 2, info.height - info.height % 2
    rate = Fraction(info.fps).limit_denominator(100_000)
    boxes_at = {f.index: f.boxes for f in result.frames}
    labels = labels_by_track(result)
    font = ImageFont.load_default(size=max(12, height // 30))
    sound = decode_soundtrack(info, mono=False) if info.has_audio else None
    with atomic.atomic_path(path, suffix=".mp4") as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            video = out.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {"preset": "veryfast", "crf": "20"}
            audio, layout, audio_done = None, None, 0
            if sound is not None:
                layout = "mono" if sound.shape[0] == 1 else "stereo"
                audio = out.add_stream("aac", rate=info.audio_rate)
                audio.layout = layout
            boxes: tuple[tuple[int, Box], ...] = ()
            frames = tqdm(iter_frames(info, "rgb24"), total=info.frame_count, desc=f"annotate {path.name}",
                          unit="frame", disable=not progress, leave=False)
            for count, (index, t, rgb) in enumerate(frames, start=1):
                boxes = boxes_at.get(index, boxes)
                image = Image.fromarray(rgb[:height, :width])
                draw_tracks(image, boxes, labels, t, font)
                out.mux(video.encode(av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")))
                if audio is not None:
                    until = min(sound.shape[1], round(count / rate * info.audio_rate))
                    audio_done = _encode_audio(out, audio, sound, layout, info.audio_rate, audio_done, until)
            out.mux(video.encode())
            if audio is not None:
                _encode_audio(out, audio, sound, layout, info.audio_rate, audio_done, sound.shape[1])
                out.mux(audio.encode())


def _encode_audio(out, stream, sound: np.ndarray, layout: str, sample_rate: int, start: int, stop: int) -> int:
    for begin in range(start, stop, AUDIO_CHUNK):
        chunk = np.ascontiguousarray(sound[:, begin:min(begin + AUDIO_CHUNK, stop)])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate, frame.pts = sample_rate, begin
        out.mux(stream.encode(frame))
    return max(start, stop)
