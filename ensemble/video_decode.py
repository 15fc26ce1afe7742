"""Open a video file safely with PyAV (FFmpeg's libraries, no ``ffmpeg`` program): check it, then decode it.

``probe_video`` refuses a file before anything is decoded, with one line naming the file and the fix:

* missing, or not readable by FFmpeg (this includes an MP4 cut short before its index);
* no video stream (a sound file: ``fer audio predict`` scores those);
* a frame larger than ``max_side`` px a side, or a declared length over ``max_seconds`` / ``max_frames``;
* then one pass over the packets (demuxing only, cheap) counts the video frames and finds where the streams
  end: no video frame is a zero-length video; streams that end well before the length the header declares,
  or fewer frames than the header declares, mean a truncated file; more frames than ``max_frames`` is refused.

Time: every timestamp here is in seconds since the first video frame (the timeline's origin); the
soundtrack is cut or padded with silence to line up with it.

Orientation: a phone films portrait video as landscape frames plus a display rotation (the container's display
matrix). Frames are turned upright before anything sees them, so faces, boxes, sizes and the annotated video are
of the video as a player shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from fer_audio.decode import to_mono_at
from fer_core.errors import DataError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")
REEXPORT_HINT = "re-export or re-download it (MP4/MKV/WebM/MOV/AVI)"
# A header's declared length is trusted to within this much before a file counts as truncated.
TRUNCATION_SLACK_S, TRUNCATION_SLACK_FRACTION = 0.5, 0.02
MISSING_FRAMES_SLACK = 2


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoLimits:
    max_side: int = 4096  # px, width and height
    max_seconds: float = 600.0
    max_frames: int = 36_000  # 60 frames/s for max_seconds

    @classmethod
    def of_length(cls, max_seconds: float) -> "VideoLimits":
        """Limits for videos up to ``max_seconds`` long (``fer predict --max-seconds``), at up to 60 frames/s."""
        return cls(max_seconds=max_seconds, max_frames=round(60 * max_seconds))


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # as displayed, after the display rotation
    height: int
    fps: float  # average frame rate
    frame_count: int  # video frames found by the packet scan
    duration: float  # s, from the first video frame to the end of the last
    start: float  # s, stream time of the first video frame (the timeline's origin)
    video_codec: str
    audio_codec: str | None  # None: no audio stream
    audio_rate: int | None
    audio_channels: int | None
    rotation: int = 0  # degrees counter-clockwise that turn the stored frames upright (0, 90, 180, 270)

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    def as_dict(self) -> dict:
        return {"file": str(self.path), "width": self.width, "height": self.height, "fps": round(self.fps, 4),
                "frames": self.frame_count, "duration_s": round(self.duration, 4), "rotation": self.rotation,
                "video_codec": self.video_codec,
                "audio_codec": self.audio_codec, "audio_rate": self.audio_rate, "audio_channels": self.audio_channels}


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise DataError(f"{path}: unreadable, truncated or not a video file ({_reason(e)}); {REEXPORT_HINT}") from None


def quarter_turns(frame: av.VideoFrame) -> int:
    """How many times to turn ``frame`` a quarter counter-clockwise to show it as a player does (display matrix)."""
    return round((frame.rotation or 0) / 90) % 4


def upright_pixels(frame: av.VideoFrame, pixel_format: str) -> np.ndarray:
    """``frame`` as ``pixel_format`` pixels, turned by its display rotation."""
    pixels = frame.to_ndarray(format=pixel_format)
    turns = quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def _first_frame_turns(path: Path) -> int:
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # stopping a frame-threaded decoder early can hang (iter_frames)
        try:
            return quarter_turns(next(container.decode(stream)))
        except (StopIteration, av.error.FFmpegError):
            return 0


def _reason(error: av.error.FFmpegError) -> str:
    return getattr(error, "strerror", None) or error.__class__.__name__


def probe_video(path: str | Path, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Check ``path`` and describe it; a one-line DataError naming the file when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    with _open(path) as container:
        if not container.streams.video:
            kind = "a sound file" if container.streams.audio else "no audio either"
            raise DataError(f"{path}: no video stream ({kind}); give a video with a face, or score sound files "
                            "with fer audio predict")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        width, height = video.codec_context.width, video.codec_context.height
        if max(width, height) > limits.max_side:
            raise DataError(f"{path}: {width}x{height} frames exceed the {limits.max_side} px limit a side; "
                            f"scale the video down (or raise the limit)")
        declared_s = container.duration / av.time_base if container.duration else None
        if declared_s is not None and declared_s > limits.max_seconds:
            raise DataError(f"{path}: {declared_s:.0f} s long, over the {limits.max_seconds:.0f} s limit; "
                            "cut it into shorter clips (or raise the limit, --max-seconds)")
        if video.frames > limits.max_frames:
            raise DataError(f"{path}: {video.frames} frames, over the {limits.max_frames} frame limit; "
                            "cut it into shorter clips (or raise the limit, --max-seconds)")
        count, first, video_end, streams_end = _scan_packets(container, video, path, limits)
        if count == 0:
            raise DataError(f"{path}: the video has no frames (zero length); {REEXPORT_HINT}")
        container_start = container.start_time / av.time_base if container.start_time is not None else 0.0
        if declared_s is not None:
            missing_s = container_start + declared_s - streams_end
            if missing_s > max(TRUNCATION_SLACK_S, TRUNCATION_SLACK_FRACTION * declared_s):
                raise DataError(f"{path}: truncated file (its streams end at {streams_end - container_start:.1f} s, "
                                f"the header declares {declared_s:.1f} s); {REEXPORT_HINT}")
        if video.frames and count < video.frames - max(MISSING_FRAMES_SLACK, TRUNCATION_SLACK_FRACTION * video.frames):
            raise DataError(f"{path}: truncated file ({count} of the {video.frames} video frames its header "
                            f"declares); {REEXPORT_HINT}")
        duration = video_end - first
        turns = _first_frame_turns(path)
        if turns % 2:
            width, height = height, width
        rate = video.average_rate or video.guessed_rate
        fps = float(rate) if rate else count / max(duration, 1e-9)
        if duration <= 0:
            duration = count / fps
        return VideoInfo(path, width, height, fps, count, duration, first, video.codec_context.name,
                         None if audio is None else audio.codec_context.name,
                         None if audio is None else audio.codec_context.sample_rate,
                         None if audio is None else audio.codec_context.layout.nb_channels, rotation=90 * turns)


def _scan_packets(container, video, path: Path, limits: VideoLimits) -> tuple[int, float, float, float]:
    """(video frames, first video time, end of the last video frame, end of the last packet of any stream)."""
    count, first, video_end, streams_end = 0, np.inf, -np.inf, -np.inf
    frame_s = float(1 / video.average_rate) if video.average_rate else 0.0
    try:
        for packet in container.demux(*[s for s in container.streams if s.type in ("video", "audio")]):
            if packet.size == 0:  # the demuxer's end-of-stream marker
                continue
            is_video = packet.stream.index == video.index
            count += is_video
            if count > limits.max_frames:
                raise DataError(f"{path}: more than {limits.max_frames} video frames, over the limit; "
                                "cut it into shorter clips (or raise the limit, --max-seconds)")
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                continue
            start = float(stamp * packet.time_base)
            length = float(packet.duration * packet.time_base) if packet.duration else 0.0
            streams_end = max(streams_end, start + length)
            if is_video:
                first, video_end = min(first, start), max(video_end, start + (length or frame_s))
    except av.error.FFmpegError as e:
        raise DataError(f"{path}: corrupt or truncated video ({_reason(e)}); {REEXPORT_HINT}") from None
    if not np.isfinite(first):  # no video packet carried a timestamp
        first, video_end = 0.0, 0.0
    return count, float(first), float(video_end), float(max(streams_end, video_end))


def iter_frames(info: VideoInfo, pixel_format: str = "gray") -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, time, pixels as ``pixel_format``: 'gray' (H, W) or 'rgb24' (H, W, 3)) per decoded frame."""
    with _open(info.path) as container:
        stream = container.streams.video[0]
        # One decoding thread: FFmpeg's frame threads can deadlock with torch loaded when decoding stops early
        # (PyAV issues 1849, 1861), and decoding is a small share of the cost here.
        stream.codec_context.thread_count = 1
        frame_s = 1.0 / info.fps
        previous = -frame_s
        try:
            for index, frame in enumerate(container.decode(stream)):
                t = frame.time - info.start if frame.time is not None else previous + frame_s
                previous = t
                yield index, t, upright_pixels(frame, pixel_format)
        except av.error.FFmpegError as e:
            raise DataError(f"{info.path}: corrupt video data ({_reason(e)}); {REEXPORT_HINT}") from None


def decode_soundtrack(info: VideoInfo, sample_rate: int | None = None, mono: bool = True) -> np.ndarray:
    """The audio stream as float32 (channels, samples), lined up with the video: sample 0 is the first video
    frame and the length is the video's duration (silence pads a shorter soundtrack).

    ``sample_rate`` None keeps the stream's rate; ``mono`` mixes the channels down (their mean). Resampling
    is soxr's high-quality mode, as for the speech model's training clips (``fer_audio.decode``).
    """
    if not info.has_audio:
        raise DataError(f"{info.path}: no audio stream")
    rate = sample_rate or info.audio_rate
    chunks, first_time = [], None
    resampler = av.AudioResampler(format="flt", layout="mono" if mono else _layout(info.audio_channels))
    with _open(info.path) as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                if first_time is None and frame.time is not None:
                    first_time = frame.time
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
        except av.error.FFmpegError as e:
            raise DataError(f"{info.path}: corrupt audio data ({_reason(e)}); {REEXPORT_HINT}") from None
    channels = 1 if mono else min(2, info.audio_channels or 1)
    total = round(info.duration * rate)
    if not chunks:
        return np.zeros((channels, total), np.float32)
    # packed float: each chunk is (1, samples * channels), interleaved
    samples = np.concatenate([c.reshape(-1) for c in chunks]).reshape(-1, channels)
    native = info.audio_rate or rate
    resampled = np.stack([to_mono_at(samples[:, [k]], native, rate) for k in range(channels)])
    offset = round(((first_time or 0.0) - info.start) * rate)
    if offset > 0:
        resampled = np.concatenate([np.zeros((channels, offset), np.float32), resampled], axis=1)
    elif offset < 0:
        resampled = resampled[:, -offset:]
    out = np.zeros((channels, total), np.float32)
    n = min(total, resampled.shape[1])
    out[:, :n] = resampled[:, :n]
    return out


def _layout(channels: int | None) -> str:
    return "mono" if (channels or 1) == 1 else "stereo"
