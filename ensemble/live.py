"""Live emotion from a camera, a network stream or a video played in real time, with its voice when there is sound:
the fused, calibrated emotion of the faces in view, updated as fast as this machine can score frames.

    from ensemble.live import LiveOptions, run_live
    from ensemble.live_source import open_source
    from ensemble.video import VideoPredictor
    with open_source("0") as frames:                     # the first camera (or "rtsp://...", or "clip.mp4")
        for update in run_live(frames, VideoPredictor.load(), LiveOptions()):
            for face in update.faces:
                print(update.t, face.track, face.label, face.fused)

How (docs/video.md, "Live"):

* The source is read by ``live_source``: the newest frame is scored as soon as the previous one is done, so the
  output never falls behind the source; frames that arrive meanwhile are skipped and counted.
* Faces are followed with the video path's tracker (``video_track``): detection on every ``every_n_frames``-th
  scored frame, the boxes held in between. The face model scores every tracked face on every scored frame, the
  landmark model only on detection frames.
* Per face track, each branch's probabilities are averaged over time with an exponential weight of time constant
  ``smooth_s`` seconds (0: the newest only), each over the frames where it has a prediction; the averages are then
  fused as a video's windows are (``video_fusion.WindowFusion``).
* With sound (the source's own audio, or a microphone), the last ``window_s`` seconds (at the start: all there is,
  from ``hop_s`` seconds on) are scored by the speech model every ``hop_s`` seconds of sound, unless they are
  silence (``video_voice``'s rule, against the loudest window so far) or, with ``speech_activity``, hold too little
  speech (the detector runs on the sound as it arrives); the newest voice prediction is pooled into every face's
  fusion until the next one.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

import numpy as np

from fer_audio.decode import MIN_SECONDS, to_mono_at
from fer_audio.labels import to_fer7_probs
from fer_audio.speech_activity import FRAME as SPEECH_FRAME
from fer_audio.speech_activity import SAMPLE_RATE as SPEECH_RATE
from fer_audio.speech_activity import MIN_SPEECH_SHARE, SPEECH_PROBABILITY, shared_detector
from fer_core.errors import UserError
from fer_core.labels import FER7
from fer_face.faces import DEFAULT_DETECTOR, DETECTORS, detect_faces
from fer_face.level import TrackLevels
from fer_face.landmarks.extract import get_predictor

from ensemble.live_source import AudioTail, LatestFrame, Microphone
from ensemble.video import VideoPredictor, landmark_logits
from ensemble.video_result import named_probs, rounded_probs
from ensemble.video_track import FaceTracker
from ensemble.video_voice import DEFAULT_SILENCE_DB, FLOOR_DBFS, rms_dbfs

# Detection (dlib HOG, 30-40 ms a 640x480 frame on one core) on every 3rd scored frame: the face is re-found a few
# times a second while most frames only pay for the face network.
DEFAULT_EVERY_N_FRAMES = 3
DEFAULT_SMOOTH_S = 1.0


@dataclass(frozen=True)
class LiveOptions:
    every_n_frames: int = DEFAULT_EVERY_N_FRAMES  # detect faces on every n-th scored frame
    max_faces: int = 1  # faces followed at once, the most confident
    detector: str = DEFAULT_DETECTOR
    level: bool = True  # turn each face so its eyes are level before it is scored (fer_face.level)
    smooth_s: float = DEFAULT_SMOOTH_S  # time constant of each face's running averages; 0: this frame only
    duration_s: float | None = None  # stop after this many seconds of the source (None: until it ends)
    window_s: float = 3.0  # seconds of sound per voice prediction
    hop_s: float = 1.0  # seconds of sound between voice predictions
    silence_db: float = DEFAULT_SILENCE_DB
    speech_activity: bool = True  # sound also needs speech (fer_audio.speech_activity) to be scored as a voice

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
        if not (self.window_s > 0 and 0 < self.hop_s <= self.window_s):
            problems.append(f"need --window > 0 and 0 < --hop <= --window (got {self.window_s}, {self.hop_s})")
        if problems:
            raise UserError("; ".join(problems))


@dataclass
class LiveFace:
    track: int
    box: tuple[int, int, int, int]
    label: str | None  # top class of ``fused``
    fused: dict[str, float] | None  # the branches' time averages fused, with the newest voice prediction
    branches: dict[str, dict[str, float] | None]  # each branch's time average (voice: the newest, in FER7)

    def as_dict(self) -> dict[str, Any]:
        return {"track": self.track, "box": list(self.box), "label": self.label,
                "confidence": None if self.label is None else round(self.fused[self.label], 6),
                "fused": rounded_probs(self.fused),
                "branches": {k: rounded_probs(v) for k, v in self.branches.items()}}


@dataclass
class LiveVoice:
    """The newest voice prediction: the window's end (source seconds of sound), level, and probabilities."""

    end: float
    level_db: float
    loud: bool  # above the silence rule
    sound: bool  # loud, and speech when the detector is on: the voice was scored
    speech: float | None  # share of the window's 32 ms frames with speech; None: detector off
    probs: dict[str, float] | None  # the speech model's own labels; None: silence or no speech
    fer7: np.ndarray | None

    @property
    def heard(self) -> str:
        """The voice's top label, "no speech" (sound without a voice) or "silence"."""
        if self.probs is not None:
            return max(self.probs, key=self.probs.get)
        return "no speech" if self.loud else "silence"

    def as_dict(self) -> dict[str, Any]:
        return {"end": round(self.end, 4), "level_db": round(self.level_db, 2), "loud": self.loud, "sound": self.sound,
                "speech": None if self.speech is None else round(self.speech, 3),
                "probs": rounded_probs(self.probs)}


@dataclass
class LiveUpdate:
    frame: int  # index of the frame in the source
    t: float  # its time in seconds from the source's first frame
    detection: bool  # faces were detected on this frame (else followed)
    faces: list[LiveFace]
    voice: LiveVoice | None  # the newest voice prediction (None: no sound yet, or no speech model)
    seconds: float  # time spent scoring this frame (and the voice, when it was due)
    read: int  # frames decoded so far
    scored: int  # frames scored so far, this one included

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "t": round(self.t, 4), "detection": self.detection,
                "ms": round(1000 * self.seconds, 2), "read": self.read, "scored": self.scored,
                "faces": [f.as_dict() for f in self.faces],
                "voice": None if self.voice is None else self.voice.as_dict()}


class TimeAverage:
    """Per key, an exponentially weighted average over time: a value at time t moves the average 1 - exp(-dt / tau)
    of the way, dt the time since the key's last value (tau 0: the newest value). A NaN row is no value: the average
    stays as it was (NaN until a first value)."""

    def __init__(self, tau_s: float):
        self.tau_s = tau_s
        self._state: dict[Any, tuple[float, np.ndarray]] = {}

    def update(self, key: Any, t: float, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, np.float64)
        previous = self._state.get(key)
        if not np.isfinite(value).all():
            return previous[1] if previous is not None else np.full(value.shape, np.nan)
        if previous is None or self.tau_s == 0:
            average = value
        else:
            weight = 1.0 - math.exp(-max(t - previous[0], 0.0) / self.tau_s)
            average = previous[1] + weight * (value - previous[1])
        self._state[key] = (t, average)
        return average

    def keep(self, keep: Callable[[Any], bool]) -> None:
        """Forget the keys for which ``keep(key)`` is false."""
        self._state = {k: v for k, v in self._state.items() if keep(k)}


class VoiceScorer:
    """Scores the newest ``window_s`` seconds of an ``AudioTail`` every ``hop_s`` seconds of sound."""

    def __init__(self, predictor: VideoPredictor, sound: AudioTail, options: LiveOptions):
        self.voice, self.sound, self.options = predictor.voice, sound, options
        self.loudest = -np.inf
        self.latest: LiveVoice | None = None
        # the first predictions come from the sound there is, once it is a hop long (and long enough for the model)
        self.first_s = min(options.window_s, max(options.hop_s, MIN_SECONDS))
        # speech decisions per 32 ms frame, fed as the sound arrives; the window's share decides
        self.speech = shared_detector().stream() if options.speech_activity else None
        self.recent = deque(maxlen=max(1, int(round(options.window_s * SPEECH_RATE / SPEECH_FRAME))))
        self.fed = 0

    def due(self) -> bool:
        end = self.sound.end_t
        return end >= self.first_s and (self.latest is None or end - self.latest.end >= self.options.hop_s)

    def score(self) -> LiveVoice | None:
        got = self.sound.last(self.options.window_s, at_least=self.first_s)
        if got is None:
            return self.latest
        wave, end = got
        level = rms_dbfs(wave)
        self.loudest = max(self.loudest, level)
        loud = bool(level > FLOOR_DBFS and level >= self.loudest - self.options.silence_db)
        is_sound, share = loud, None
        if self.speech is not None:
            new, self.fed = self.sound.after(self.fed)
            rate = self.sound.rate
            self.recent.extend(self.speech.feed(new if rate == SPEECH_RATE else to_mono_at(new, rate, SPEECH_RATE))
                               > SPEECH_PROBABILITY)
            share = float(np.mean(self.recent)) if self.recent else 0.0
            is_sound = is_sound and share >= MIN_SPEECH_SHARE
        probs = fer7 = None
        if is_sound:
            p = self.voice.calibrator.probs(self.voice.logits_for_waves([wave]))
            probs, fer7 = named_probs(self.voice.label_space, p[0]), to_fer7_probs(p, self.voice.label_space)[0]
        self.latest = LiveVoice(end, level, loud, is_sound, share, probs, fer7)
        return self.latest


def warm_up(predictor: VideoPredictor, detector: str) -> None:
    """Load what loads on first use (the detector, the 68-point predictor, the networks' first call), so the first
    frame is scored as fast as the others."""
    photo = predictor.photo
    blank = np.full((96, 96), 128, np.uint8)
    detect_faces(blank, detector)
    photo.face.logits_crops(blank[None, :48, :48])
    if photo.landmarks is not None:
        get_predictor()
        landmark_logits(photo.landmarks, [blank[:48, :48]])
    if predictor.voice is not None:
        predictor.voice.logits_for_waves([np.zeros(predictor.voice.sample_rate, np.float32)])


def sound_for(frames: LatestFrame, predictor: VideoPredictor, options: LiveOptions,
              microphone: Microphone | None = None) -> AudioTail | None:
    """The audio the voice is scored on: the microphone's when one is given, else the source's own audio stream;
    None without a speech model or without sound."""
    if predictor.voice is None:
        return None
    tail = AudioTail(predictor.voice.sample_rate, options.window_s)
    if microphone is not None:
        microphone.sound = tail
    elif frames.has_audio:
        frames.sound = tail
    else:
        return None
    return tail


def run_live(frames: LatestFrame, predictor: VideoPredictor, options: LiveOptions = LiveOptions(), *,
             microphone: Microphone | None = None) -> Iterator[LiveUpdate]:
    """One update per scored frame, until the source ends or ``options.duration_s`` of it has passed."""
    options.check()
    photo = predictor.photo
    tracker = FaceTracker(max_faces=options.max_faces, every_n_frames=options.every_n_frames,
                          detector=options.detector)
    average = TimeAverage(options.smooth_s)
    levels = TrackLevels(options.level)
    sound = sound_for(frames, predictor, options, microphone)
    voice = VoiceScorer(predictor, sound, options) if sound is not None else None
    warm_up(predictor, options.detector)
    if microphone is not None:
        microphone.start()
    scored = 0
    while (got := frames.next()) is not None:
        index, t, gray = got
        if options.duration_s is not None and t > options.duration_s:
            return
        started = time.perf_counter()
        tracks, detection = tracker.step(gray)
        latest = voice.score() if voice is not None and voice.due() else (voice.latest if voice else None)
        faces = []
        if tracks:
            crops = [levels.crop(gray, track.id, track.box, measure=detection) for track in tracks]
            face_logits = photo.face.logits_crops(np.stack(crops))
            rows = {"face": photo.face.calibrator.probs(face_logits),
                    "face_input": photo.face.calibrator.smooth_probs(face_logits)}
            if photo.landmarks is not None:
                lm_logits = landmark_logits(photo.landmarks, crops) if detection \
                    else np.full((len(crops), len(photo.landmarks.label_space)), np.nan)
                rows["landmarks"] = photo.landmarks.calibrator.probs(lm_logits)
                rows["landmarks_input"] = photo.landmarks.calibrator.smooth_probs(lm_logits)
            averaged = {name: np.stack([average.update((track.id, name), t, row) for track, row in zip(tracks, values)])
                        for name, values in rows.items()}
            faces = _fused_faces(predictor, tracks, averaged, latest)
        ids = {track.id for track in tracks}
        average.keep(lambda key: key[0] in ids)
        levels.keep(ids)
        scored += 1
        yield LiveUpdate(index, t, detection, faces, latest, time.perf_counter() - started, frames.read, scored)


def _fused_faces(predictor: VideoPredictor, tracks, averaged: dict[str, np.ndarray],
                 voice: LiveVoice | None) -> list[LiveFace]:
    photo = predictor.photo
    n = len(tracks)
    voice_native = voice_fer7 = None
    if predictor.voice is not None:
        present = voice is not None and voice.probs is not None
        voice_native = np.tile([voice.probs[c] for c in predictor.voice.label_space], (n, 1)) if present \
            else np.full((n, len(predictor.voice.label_space)), np.nan)
        voice_fer7 = np.tile(voice.fer7, (n, 1)) if present else np.full((n, len(FER7)), np.nan)
    landmarks = averaged.get("landmarks")
    _, fused = predictor.fusion.fuse(averaged["face"], landmarks, voice_native, voice_fer7,
                                     face_input=averaged["face_input"], landmarks_input=averaged.get("landmarks_input"))
    labels = tuple(predictor.fusion.label_space)
    out = []
    for k, track in enumerate(tracks):
        branches = {photo.face.branch: named_probs(photo.face.label_space, averaged["face"][k])}
        if photo.landmarks is not None:
            branches[photo.landmarks.branch] = named_probs(photo.landmarks.label_space, landmarks[k])
        if predictor.voice is not None:
            branches[predictor.voice.branch] = named_probs(FER7, voice_fer7[k])
        fused_k = named_probs(labels, fused[k])
        out.append(LiveFace(track.id, tuple(track.box), None if fused_k is None else max(fused_k, key=fused_k.get),
                            fused_k, branches))
    return out


@dataclass
class LiveSummary:
    """What a live run did: frames decoded, scored and skipped, over how long, at what cost per frame."""

    seconds: float  # source time covered
    read: int
    scored: int
    skipped: int
    median_ms: float | None

    def line(self) -> str:
        rate = f", {self.scored / self.seconds:.1f} scored/s" if self.seconds > 0 else ""
        cost = f", median {self.median_ms:.0f} ms a frame" if self.median_ms is not None else ""
        return (f"{self.seconds:.1f} s of video: {self.read} frames read, {self.scored} scored{rate}, "
                f"{self.skipped} skipped to keep up{cost}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
