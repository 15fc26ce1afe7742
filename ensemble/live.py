"""Live emotion from a camera, a network stream or a video played in real time: the fused, calibrated emotion of
the faces in view, updated as fast as this machine can score frames.

    from ensemble.live import LiveOptions, open_source, run_live
    from ensemble.photo import PhotoPredictor
    with open_source("0") as frames:                     # the first camera (or "rtsp://...", or "clip.mp4")
        for update in run_live(frames, PhotoPredictor.load(), LiveOptions()):
            for face in update.faces:
                print(update.t, face.track, face.label, face.probs)

How (docs/video.md, "Live"):

* A background thread decodes the source with PyAV and keeps only its newest frame (from the first request on,
  after the models are loaded and warmed up). Scoring takes the newest frame
  as soon as it is done with the previous one, so the output never falls behind the source: frames that arrive in
  the meantime are skipped, and counted. A video file is released frame by frame at its own frame rate, as a
  camera would deliver it.
* Faces are followed with the video path's tracker (``video_track``): detection on every ``every_n_frames``-th
  scored frame, the boxes held in between. The face model scores every tracked face on every scored frame; the
  landmark model only on detection frames (the fusion renormalises over the face branch on the others).
* Per face track, the fused probabilities are averaged over time with an exponential weight of time constant
  ``smooth_s`` seconds (0: no averaging); the label is the average's top class.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import av
import av.logging
import numpy as np

from fer_core.errors import DataError, UserError
from fer_face.faces import DEFAULT_DETECTOR, DETECTORS, Detection, crop_face, detect_faces
from fer_face.landmarks.extract import get_predictor

from ensemble.photo import FusedFace, PhotoPredictor
from ensemble.video_track import FaceTracker

# Detection (dlib HOG, 30-40 ms a 640x480 frame on one core) on every 3rd scored frame: the face is re-found a few
# times a second while most frames only pay for the face network.
DEFAULT_EVERY_N_FRAMES = 3
DEFAULT_SMOOTH_S = 1.0
CAMERA_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}  # FFmpeg's capture devices
OPEN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LiveOptions:
    every_n_frames: int = DEFAULT_EVERY_N_FRAMES  # detect faces on every n-th scored frame
    max_faces: int = 1  # faces followed at once, the most confident
    detector: str = DEFAULT_DETECTOR
    smooth_s: float = DEFAULT_SMOOTH_S  # time constant of each face's running average; 0: this frame only
    duration_s: float | None = None  # stop after this many seconds of the source (None: until it ends)

    def check(self) -> None:
        problems = []
        if self.every_n_frames < 1:
            problems.append(f"--every-n-frames must be >= 1 (got {self.every_n_frames})")
        if self.max_faces < 1:
            problems.append(f"--max-faces must be >= 1 (got {self.max_faces})")
        if self.detector not in DETECTORS:
            problems.append(f"--detector must be one of {', '.join(DETECTORS)} (got {self.detector!r})")
        if not (self.smooth_s >= 0 and math.isfinite(self.smooth_s)):
            problems.append(f"--smooth must be a number of seconds >= 0 (got {self.smooth_s})")
        if self.duration_s is not None and not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            problems.append(f"--duration must be a number of seconds > 0 (got {self.duration_s})")
        if problems:
            raise UserError("; ".join(problems))


# -- the source ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveSource:
    """What FFmpeg opens: ``url`` with the input ``format`` (None: guessed); ``paced``: a file played in real time."""

    spec: str
    url: str
    format: str | None
    paced: bool


def live_source(spec: str, input_format: str | None = None, platform: str = sys.platform) -> LiveSource:
    """A camera number (``0``), a capture device (``/dev/video0``, ``video=Name`` with ``--format dshow``), a stream
    URL (``rtsp://``, ``http://``, ``udp://`` ...) or a video file; a one-line UserError for anything else."""
    if input_format is not None:  # the user names FFmpeg's input format: the spec goes to it as written
        return LiveSource(spec, spec, input_format, paced=False)
    if spec.isdigit():
        camera_format = CAMERA_FORMATS.get(platform if platform in CAMERA_FORMATS else platform.rstrip("0123456789"))
        if camera_format == "v4l2":
            return LiveSource(spec, f"/dev/video{spec}", "v4l2", paced=False)
        if camera_format == "avfoundation":
            return LiveSource(spec, spec, "avfoundation", paced=False)
        raise UserError(f"camera {spec}: on this system name the camera for FFmpeg, e.g. 'video=Integrated Camera' "
                        "--format dshow (list them: ffmpeg -list_devices true -f dshow -i dummy)")
    if "://" in spec:
        return LiveSource(spec, spec, None, paced=False)
    path = Path(spec)
    if path.is_char_device():
        return LiveSource(spec, spec, CAMERA_FORMATS.get(platform), paced=False)
    if path.is_file():
        return LiveSource(spec, spec, None, paced=True)
    raise UserError(f"{spec}: no such camera, stream or file; give a camera number (0), a device (/dev/video0), "
                    "a stream URL (rtsp://...) or a video file")


class LatestFrame:
    """Decodes a source on a background thread and keeps only its newest frame (grayscale).

    ``read`` counts the frames decoded, ``taken`` those handed out by ``next``; the rest were replaced by a newer
    frame before anyone asked for them (skipped).
    """

    def __init__(self, source: LiveSource, open_timeout_s: float = OPEN_TIMEOUT_S):
        self.source = source
        try:
            with av.logging.Capture():  # FFmpeg's own log line would come before ours
                self._container = av.open(source.url, format=source.format, timeout=open_timeout_s,
                                          metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as e:
            raise DataError(f"{source.spec}: cannot open ({getattr(e, 'strerror', None) or e.__class__.__name__}); "
                            "check the camera number, device, URL or file") from None
        if not self._container.streams.video:
            self._container.close()
            raise DataError(f"{source.spec}: no video stream")
        self._stream = self._container.streams.video[0]
        # one decoding thread, as for video files (ensemble.video_decode.iter_frames)
        self._stream.codec_context.thread_count = 1
        self._cond = threading.Condition()
        self._frame: tuple[int, float, np.ndarray] | None = None
        self._stop = threading.Event()
        self._ended = False
        self.error: DataError | None = None
        self.read = self.taken = 0
        self._last_taken = -1
        # started by the first next(): a file's clock and a camera's stream begin when someone is ready to score
        self._thread = threading.Thread(target=self._decode, name="fer-live-decoder", daemon=True)

    def _decode(self) -> None:
        start_wall, first = None, None
        try:
            for index, frame in enumerate(self._container.decode(self._stream)):
                if self._stop.is_set():
                    break
                t = float(frame.time) if frame.time is not None else index / float(self._stream.average_rate or 30)
                if first is None:
                    start_wall, first = time.monotonic(), t
                if self.source.paced:  # release each frame at its own time, as a camera would
                    delay = start_wall + (t - first) - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                gray = frame.to_ndarray(format="gray")
                with self._cond:
                    self._frame = (index, t - first, gray)
                    self.read += 1
                    self._cond.notify_all()
        except av.error.FFmpegError as e:
            self.error = DataError(f"{self.source.spec}: the stream broke off "
                                   f"({getattr(e, 'strerror', None) or e.__class__.__name__})")
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def next(self) -> tuple[int, float, np.ndarray] | None:
        """The newest frame not handed out yet, waiting for one; None once the source has ended."""
        if self._thread.ident is None:
            self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self._ended or (self._frame is not None and self._frame[0] > self._last_taken))
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

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=OPEN_TIMEOUT_S)
        if not self._thread.is_alive():
            self._container.close()


@contextlib.contextmanager
def open_source(spec: str, input_format: str | None = None) -> Iterator[LatestFrame]:
    frames = LatestFrame(live_source(spec, input_format))
    try:
        yield frames
    finally:
        frames.close()


# -- scoring ------------------------------------------------------------------------------------------------------
@dataclass
class LiveFace:
    track: int
    box: tuple[int, int, int, int]
    label: str  # top class of ``probs``
    probs: dict[str, float]  # the fused probabilities averaged over time (``smooth_s``)
    now: FusedFace = field(repr=False)  # this frame's prediction: each branch and the fusion

    def as_dict(self) -> dict[str, Any]:
        return {"track": self.track, "box": list(self.box), "label": self.label,
                "confidence": round(self.probs[self.label], 6), "probs": {k: round(v, 6) for k, v in self.probs.items()},
                "now": {k: v for k, v in self.now.as_dict().items() if k not in ("face", "box", "detector_score")}}


@dataclass
class LiveUpdate:
    frame: int  # index of the frame in the source
    t: float  # its time in seconds from the source's first frame
    detection: bool  # faces were detected on this frame (else followed)
    faces: list[LiveFace]
    seconds: float  # time spent scoring this frame
    read: int  # frames decoded so far
    scored: int  # frames scored so far, this one included

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "t": round(self.t, 4), "detection": self.detection,
                "ms": round(1000 * self.seconds, 2), "read": self.read, "scored": self.scored,
                "faces": [f.as_dict() for f in self.faces]}


class TimeAverage:
    """Per key, an exponentially weighted average over time: a new value at time t moves the average by
    1 - exp(-dt / tau) of the way, dt the time since the key's last value (tau 0: the newest value)."""

    def __init__(self, tau_s: float):
        self.tau_s = tau_s
        self._state: dict[int, tuple[float, np.ndarray]] = {}

    def update(self, key: int, t: float, value: np.ndarray) -> np.ndarray:
        previous = self._state.get(key)
        if previous is None or self.tau_s == 0:
            average = np.asarray(value, np.float64)
        else:
            weight = 1.0 - math.exp(-max(t - previous[0], 0.0) / self.tau_s)
            average = previous[1] + weight * (np.asarray(value, np.float64) - previous[1])
        self._state[key] = (t, average)
        return average

    def keep(self, keys: set[int]) -> None:
        self._state = {k: v for k, v in self._state.items() if k in keys}


def warm_up(predictor: PhotoPredictor, detector: str) -> None:
    """Load what loads on first use (the detector, the 68-point predictor, the networks' first call), so the first
    frame is scored as fast as the others."""
    blank = np.full((96, 96), 128, np.uint8)
    detect_faces(blank, detector)
    if predictor.landmarks is not None:
        get_predictor()
    predictor.score_faces([(blank[:48, :48], None)])


def run_live(frames: LatestFrame, predictor: PhotoPredictor, options: LiveOptions = LiveOptions()
             ) -> Iterator[LiveUpdate]:
    """One update per scored frame, until the source ends or ``options.duration_s`` of it has passed."""
    options.check()
    tracker = FaceTracker(max_faces=options.max_faces, every_n_frames=options.every_n_frames,
                          detector=options.detector)
    average = TimeAverage(options.smooth_s)
    warm_up(predictor, options.detector)
    scored = 0
    while (got := frames.next()) is not None:
        index, t, gray = got
        if options.duration_s is not None and t > options.duration_s:
            return
        started = time.perf_counter()
        tracks, detection = tracker.step(gray)
        crops = [(crop_face(gray, track.box), Detection(track.box, track.score)) for track in tracks]
        faces = []
        for track, now in zip(tracks, predictor.score_faces(crops, with_landmarks=detection)):
            labels = list(now.probs)
            smoothed = dict(zip(labels, map(float, average.update(track.id, t, np.array(list(now.probs.values()))))))
            faces.append(LiveFace(track.id, tuple(track.box), max(smoothed, key=smoothed.get), smoothed, now))
        average.keep({track.id for track in tracks})
        scored += 1
        yield LiveUpdate(index, t, detection, faces, time.perf_counter() - started, frames.read, scored)


@dataclass
class LiveSummary:
    """What a live run did: frames decoded, scored and skipped, over how long, at what cost per frame."""

    seconds: float  # source time covered
    read: int
    scored: int
    skipped: int
    median_ms: float | None
    labels: dict[int, str] = field(default_factory=dict)  # track -> its last label

    def line(self) -> str:
        rate = f", {self.scored / self.seconds:.1f} scored/s" if self.seconds > 0 else ""
        cost = f", median {self.median_ms:.0f} ms a frame" if self.median_ms is not None else ""
        return (f"{self.seconds:.1f} s of video: {self.read} frames read, {self.scored} scored{rate}, "
                f"{self.skipped} skipped to keep up{cost}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
