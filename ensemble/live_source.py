"""What ``fer live`` reads: a camera, a capture device, a stream URL or a video file, and optionally a microphone.

A background thread decodes the source with PyAV and keeps only its newest video frame (``LatestFrame``), so a
consumer slower than the source gets the latest picture instead of a growing backlog; the frames it never asked
for are counted as skipped. A file is released frame by frame at its own frame rate, as a camera would deliver it.
Sound, from the source's own audio stream or from a microphone (``Microphone``), is resampled to mono at the
speech model's rate and kept as the last few seconds (``AudioTail``).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import av.logging
import numpy as np

from ensemble.video_decode import upright_pixels
from fer_core.errors import DataError, UserError

CAMERA_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}  # FFmpeg's capture devices
MICROPHONE_FORMATS = {"linux": "alsa", "darwin": "avfoundation", "win32": "dshow"}
DEFAULT_MICROPHONES = {"linux": "default", "darwin": ":0"}
OPEN_TIMEOUT_S = 10.0


def _platform(platform: str) -> str:
    return platform if platform in CAMERA_FORMATS else platform.rstrip("0123456789")  # "linux2" -> "linux"


@dataclass(frozen=True)
class LiveSource:
    """What FFmpeg opens: ``url`` with the input ``format`` (None: guessed); ``paced``: a file played in real time."""

    spec: str
    url: str
    format: str | None
    paced: bool
    options: tuple[tuple[str, str], ...] = ()  # FFmpeg input options, e.g. (("framerate", "30"),)


def live_source(spec: str, input_format: str | None = None, platform: str = sys.platform) -> LiveSource:
    """A camera number (``0``), a capture device (``/dev/video0``, ``video=Name`` with ``--format dshow``), a stream
    URL (``rtsp://``, ``http://``, ``udp://`` ...) or a video file; a one-line UserError for anything else."""
    if input_format is not None:  # the user names FFmpeg's input format: the spec goes to it as written
        return LiveSource(spec, spec, input_format, paced=False)
    camera_format = CAMERA_FORMATS.get(_platform(platform))
    if spec.isdigit():
        if camera_format == "v4l2":
            return LiveSource(spec, f"/dev/video{spec}", "v4l2", paced=False)
        if camera_format == "avfoundation":
            # FFmpeg asks for 29.97 frames/s by default, which most Mac cameras refuse ("framerate not supported")
            return LiveSource(spec, spec, "avfoundation", paced=False, options=(("framerate", "30"),))
        raise UserError(f"camera {spec}: on this system name the camera for FFmpeg, e.g. 'video=Integrated Camera' "
                        "--format dshow (list them: ffmpeg -list_devices true -f dshow -i dummy)")
    if "://" in spec:
        return LiveSource(spec, spec, None, paced=False)
    path = Path(spec)
    if path.is_char_device():
        return LiveSource(spec, spec, camera_format, paced=False)
    if path.is_file():
        return LiveSource(spec, spec, None, paced=True)
    raise UserError(f"{spec}: no such camera, stream or file; give a camera number (0), a device (/dev/video0), "
                    "a stream URL (rtsp://...) or a video file")


def microphone_source(spec: str | None, input_format: str | None = None, platform: str = sys.platform) -> LiveSource:
    """A microphone for FFmpeg: ``spec`` None is the system's default one (ALSA's ``default`` on Linux, the first
    avfoundation input on macOS); Windows needs its name, ``audio=Name``."""
    name = _platform(platform)
    if input_format is None:
        input_format = MICROPHONE_FORMATS.get(name)
    if spec is None:
        spec = DEFAULT_MICROPHONES.get(name)
        if spec is None:
            raise UserError("--mic: on this system name the microphone, e.g. --mic 'audio=Microphone Array' (list "
                            "them: ffmpeg -list_devices true -f dshow -i dummy)")
    return LiveSource(spec, spec, input_format, paced=False)


def _open(source: LiveSource, what: str, timeout_s: float) -> av.container.InputContainer:
    try:
        with av.logging.Capture():  # FFmpeg's own log line would come before ours
            return av.open(source.url, format=source.format, options=dict(source.options), timeout=timeout_s,
                           metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as e:
        raise DataError(f"{source.spec}: cannot open ({getattr(e, 'strerror', None) or e.__class__.__name__}); "
                        f"check the {what}") from None


class AudioTail:
    """The last ``seconds`` of mono float audio at ``rate``, and the source time at which it ends (thread-safe)."""

    def __init__(self, rate: int, seconds: float):
        self.rate = rate
        self._samples = np.zeros(0, np.float32)
        self._keep = int(round(rate * seconds))
        self._lock = threading.Lock()
        self.end_t = 0.0  # source seconds of audio received
        self.total = 0  # samples received
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)

    def add_frame(self, frame: av.AudioFrame) -> None:
        for out in self._resampler.resample(frame):
            self.add(out.to_ndarray().reshape(-1))

    def add(self, samples: np.ndarray) -> None:
        with self._lock:
            self._samples = np.concatenate([self._samples, samples.astype(np.float32)])[-self._keep:]
            self.total += len(samples)
            self.end_t = self.total / self.rate

    def after(self, count: int) -> tuple[np.ndarray, int]:
        """The samples received after the first ``count`` (those still kept) and the count received so far."""
        with self._lock:
            return self._samples[len(self._samples) - min(self.total - count, len(self._samples)):].copy(), self.total

    def last(self, seconds: float, at_least: float | None = None) -> tuple[np.ndarray, float] | None:
        """The last ``seconds`` of audio (or all there is, when at least ``at_least`` seconds) and the time they end
        at; None until enough has arrived."""
        n, needed = int(round(self.rate * seconds)), int(round(self.rate * (seconds if at_least is None else at_least)))
        with self._lock:
            if len(self._samples) < needed:
                return None
            return self._samples[-n:].copy(), self.end_t


class _Decoder(abc.ABC):
    """A source decoded on a daemon thread, started by ``start()`` and stopped by ``close()``."""

    def __init__(self, source: LiveSource, what: str, open_timeout_s: float):
        self.source = source
        self._container = _open(source, what, open_timeout_s)
        self._stop = threading.Event()
        self.error: DataError | None = None
        self._thread = threading.Thread(target=self._run, name=f"fer-live-{what}", daemon=True)

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def _run(self) -> None:
        try:
            self._decode()
        except av.error.FFmpegError as e:
            self.error = DataError(f"{self.source.spec}: the stream broke off "
                                   f"({getattr(e, 'strerror', None) or e.__class__.__name__})")
        finally:
            self._ended()

    @abc.abstractmethod
    def _decode(self) -> None:
        """Decode until the source ends or ``_stop`` is set."""

    def _ended(self) -> None:
        pass

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=OPEN_TIMEOUT_S)
        if not self._thread.is_alive():
            self._container.close()


class LatestFrame(_Decoder):
    """Decodes a source and keeps only its newest frame (grayscale); with ``sound`` it also feeds the source's
    own audio stream, when it has one, into that ``AudioTail``.

    ``read`` counts the frames decoded, ``taken`` those handed out by ``next``; the others were replaced by a newer
    frame before anyone asked for them (``skipped``). Decoding starts with the first ``next``: a file's clock
    and a camera's stream begin when someone is ready to score.
    """

    def __init__(self, source: LiveSource, open_timeout_s: float = OPEN_TIMEOUT_S):
        super().__init__(source, "camera number, device, URL or file", open_timeout_s)
        if not self._container.streams.video:
            self._container.close()
            raise DataError(f"{source.spec}: no video stream")
        self._video = self._container.streams.video[0]
        self._video.codec_context.thread_count = 1  # as for video files (ensemble.video_decode.iter_frames)
        audio = self._container.streams.audio
        self._audio = audio[0] if audio else None
        self.sound: AudioTail | None = None
        self._cond = threading.Condition()
        self._frame: tuple[int, float, np.ndarray] | None = None
        self._done = False
        self.read = self.taken = 0
        self._last_taken = -1

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def _decode(self) -> None:
        streams = [self._video] + ([self._audio] if self.sound is not None and self._audio is not None else [])
        start_wall, first, index = None, None, 0
        for packet in self._container.demux(*streams):
            for frame in packet.decode():
                if self._stop.is_set():
                    return
                if packet.stream.type == "audio":
                    self.sound.add_frame(frame)
                    continue
                t = float(frame.time) if frame.time is not None else index / float(self._video.average_rate or 30)
                if first is None:
                    start_wall, first = time.monotonic(), t
                if self.source.paced:  # release each frame at its own time, as a camera would
                    delay = start_wall + (t - first) - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                gray = upright_pixels(frame, "gray")
                with self._cond:
                    self._frame = (index, t - first, gray)
                    self.read += 1
                    self._cond.notify_all()
                index += 1

    def _ended(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def next(self) -> tuple[int, float, np.ndarray] | None:
        """The newest frame not handed out yet, waiting for one; None once the source has ended."""
        self.start()
        with self._cond:
            self._cond.wait_for(lambda: self._done or (self._frame is not None and self._frame[0] > self._last_taken))
            if self._frame is None or self._frame[0] <= self._last_taken:
                if self.error is not None:
                    raise self.error
                return None
            self._last_taken = self._frame[0]
            self.taken += 1
            return self._frame

    @property
    def skipped(self) -> int:
        with self._cond:
            return self.read - self.taken - int(self._frame is not None and self._frame[0] > self._last_taken)


class Microphone(_Decoder):
    """A capture device's sound, fed into ``sound`` (an ``AudioTail``, set before ``start()``)."""

    def __init__(self, source: LiveSource, open_timeout_s: float = OPEN_TIMEOUT_S):
        super().__init__(source, "microphone (--mic, --mic-format)", open_timeout_s)
        if not self._container.streams.audio:
            self._container.close()
            raise DataError(f"{source.spec}: no audio stream; --mic takes a microphone")
        self.sound: AudioTail | None = None

    def _decode(self) -> None:
        for frame in self._container.decode(self._container.streams.audio[0]):
            if self._stop.is_set():
                return
            self.sound.add_frame(frame)


def input_options(pairs: list[str] | None, flag: str = "--option") -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` strings as FFmpeg input options; a one-line UserError for one without ``=``."""
    out = []
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {pair}: write KEY=VALUE, an FFmpeg input option (e.g. framerate=30)")
        out.append((key, value))
    return tuple(out)


@contextlib.contextmanager
def open_source(spec: str, input_format: str | None = None,
                options: tuple[tuple[str, str], ...] = ()) -> Iterator[LatestFrame]:
    source = live_source(spec, input_format)
    frames = LatestFrame(dataclasses.replace(source, options=source.options + options))  # the user's options win
    try:
        yield frames
    finally:
        frames.close()
