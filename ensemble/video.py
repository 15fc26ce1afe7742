"""Emotion over time in a video with sound: the face, its landmarks and the voice of the same person, fused per
time window.

    from ensemble.video import VideoOptions, VideoPredictor, predict_video, write_outputs
    predictor = VideoPredictor.load(face="runs/my_face")          # + shipped landmarks, fusion, speech model
    result = predict_video("clip.mp4", predictor, VideoOptions())
    for row in result.rows:                                        # one per time window and face track
        print(row.start, row.end, row.track, row.label, row.fused)
    write_outputs(result, csv="t.csv", json="t.json", plot="t.png", annotate="boxed.mp4")

How (docs/video.md has the rules in full):

* Frames are decoded with PyAV (``video_decode``: the file is checked before decoding). Faces are detected on
  every ``every_n_frames``-th processed frame with the photos' detector and followed in between
  (``video_track``: one id per person, ``max_faces`` most confident). ``sample_fps`` processes fewer frames.
* On detection frames each tracked face is cropped to 48x48 and scored by the face and landmark models in batches
  (``score_every_frame`` scores the followed boxes of every processed frame with the face model too).
* The soundtrack is cut into windows (``window_s``, ``hop_s``); windows quieter than ``silence_db`` below the
  loudest one are silence, and (``speech_activity``) windows with too little speech in them are no voice either;
  the others are scored by the speech model and mapped onto FER2013's 7 classes (``video_voice``).
* Per window and track, the face and landmark probabilities of the frames inside the window are averaged (each
  over the frames where it has a prediction) and fused with the window's voice probabilities (``video_fusion``):
  by a fusion with an audio member when one is given, otherwise by an equal-weight product of experts of the
  calibrated face side and voice, **a default that is not fit on paired data**. A window without a face is
  voice only, a silent one face only, and one with neither has no prediction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fer_audio import predict as audio_predict
from fer_audio.predict import AudioPredictor
from fer_audio.speech_activity import shared_detector
from fer_core.errors import UserError
from fer_core.labels import FER7
from fer_face.faces import DEFAULT_DETECTOR, DETECTORS
from fer_face.level import TrackLevels
from fer_face.landmarks.predict import LandmarkPredictor, find_landmarks

from ensemble.fusion import FittedFusion
from ensemble.photo import NONE, PhotoPredictor, load_fusion
from ensemble.video_decode import (VIDEO_SUFFIXES, VideoInfo, VideoLimits, decode_soundtrack, is_video, iter_frames,
                                   probe_video)
from ensemble.video_fusion import DEFAULT_POOL, WindowFusion, has_audio_member
from ensemble.video_output import timeline_table, write_outputs
from ensemble.video_result import FrameBoxes, TimelineRow, TrackSummary, VideoResult, named_probs
from ensemble.video_track import FOLLOW_MODES, FaceTracker
from ensemble.video_voice import DEFAULT_SILENCE_DB, FLOOR_DBFS, VoiceWindows, voice_windows, window_grid

__all__ = ["VIDEO_SUFFIXES", "VideoLimits", "VideoOptions", "VideoPredictor", "VideoResult", "is_video",
           "predict_video", "timeline_table", "write_outputs"]

# Detection on every 5th frame: at 30 fps a face is re-found 6 times a second, and the face path keeps up with
# 30 fps on 2 cores (bench/video_speed.py, docs/video.md).
DEFAULT_EVERY_N_FRAMES = 5


@dataclass(frozen=True)
class VideoOptions:
    every_n_frames: int = DEFAULT_EVERY_N_FRAMES  # detect faces on every n-th processed frame
    rescan_every: int = 6  # every k-th detection searches the whole frame; the others the tracked faces' regions
    score_every_frame: bool = False  # face model on every processed frame, not only on detection frames
    sample_fps: float | None = None  # process at most this many frames per second (None: every frame)
    max_faces: int = 1  # faces followed at once, the most confident
    follow: str = "hold"  # between detections: keep the last box, or dlib's "correlation" tracker
    detector: str = DEFAULT_DETECTOR
    level: bool = True  # turn each face so its eyes are level before it is scored (fer_face.level)
    window_s: float = 3.0
    hop_s: float = 1.0
    silence_db: float = DEFAULT_SILENCE_DB  # a window this far below the loudest one is silence
    speech_activity: bool = True  # a sound window also needs speech (fer_audio.speech_activity) for the voice
    use_audio: bool = True
    limits: VideoLimits = field(default_factory=VideoLimits)
    batch_size: int = 64  # face crops per network call
    progress: bool = True

    def check(self) -> None:
        problems = []
        if self.every_n_frames < 1:
            problems.append(f"every_n_frames must be >= 1 (got {self.every_n_frames})")
        if self.rescan_every < 1:
            problems.append(f"rescan_every must be >= 1 (got {self.rescan_every})")
        if self.sample_fps is not None and self.sample_fps <= 0:
            problems.append(f"sample_fps must be > 0 (got {self.sample_fps})")
        if self.max_faces < 1:
            problems.append(f"max_faces must be >= 1 (got {self.max_faces})")
        if self.follow not in FOLLOW_MODES:
            problems.append(f"follow must be one of {', '.join(FOLLOW_MODES)} (got {self.follow!r})")
        if self.detector not in DETECTORS:
            problems.append(f"detector must be one of {', '.join(DETECTORS)} (got {self.detector!r})")
        if not (self.window_s > 0 and 0 < self.hop_s <= self.window_s):
            problems.append(f"need window > 0 and 0 < hop <= window (got window {self.window_s}, hop {self.hop_s})")
        if self.silence_db <= 0:
            problems.append(f"silence_db must be > 0 dB (got {self.silence_db})")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1 (got {self.batch_size})")
        if problems:
            raise UserError("; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "progress"}


class VideoPredictor:
    """The face side (``PhotoPredictor``), the speech model (None: face only) and how windows are fused."""

    def __init__(self, photo: PhotoPredictor, voice: AudioPredictor | None = None,
                 voice_fusion: FittedFusion | None = None, voice_fusion_name: str | None = None):
        self.photo, self.voice = photo, voice
        self.fusion = WindowFusion(photo, voice, voice_fusion, voice_fusion_name)

    @classmethod
    def load(cls, face: str | Path | None = None, landmarks: str | Path | None = None,
             fusion: str | Path | None = None, voice: str | Path | None = None, *,
             face_weights: str | Path | None = None, device: str = "auto") -> "VideoPredictor":
        """Models by published name or run directory; None takes the shipped default, ``"none"`` leaves one out.

        ``fusion``: a fusion with an audio member fuses face, landmarks and voice itself; any other fusion is the
        face/landmark fusion (as for photos) and the voice is pooled with it by the default product of experts.
        """
        voice_model = None if str(voice) == NONE else audio_predict.load_model(voice, device=device)
        if fusion is not None and str(fusion) != NONE:
            loaded, name, _ = load_fusion(fusion)
            if has_audio_member(loaded):
                photo = PhotoPredictor.load(face, landmarks, NONE, face_weights=face_weights, device=device)
                return cls(photo, voice_model, loaded, name)
        return cls(PhotoPredictor.load(face, landmarks, fusion, face_weights=face_weights, device=device), voice_model)

    def models(self) -> dict[str, Any]:
        photo = self.photo
        return {"face": photo.face.source, "landmarks": None if photo.landmarks is None else photo.landmarks.source,
                "fusion": photo.fusion_name, "voice": None if self.voice is None else self.voice.source,
                "voice_fusion": self.fusion.voice_fusion_name}


@dataclass
class FaceSamples:
    """Per processed frame and visible track: time, track id, face and landmark probabilities (landmarks NaN:
    not a detection frame, or no landmarks found), each also as the fusion input (``Calibrator.smooth_probs``)."""

    times: np.ndarray
    tracks: np.ndarray
    face: np.ndarray
    landmarks: np.ndarray
    face_input: np.ndarray
    landmarks_input: np.ndarray


def predict_video(path: str | Path, predictor: VideoPredictor, options: VideoOptions = VideoOptions()) -> VideoResult:
    """The fused emotion timeline of a video; a one-line DataError/UserError for a file or option it cannot use."""
    options.check()
    started = time.perf_counter()
    info = probe_video(path, options.limits)
    samples, frames, tracks = _face_path(info, predictor.photo, options)
    face_seconds = time.perf_counter() - started
    windows = window_grid(info.duration, options.window_s, options.hop_s)
    notes: list[str] = []
    voice = _voice_path(info, predictor.voice, windows, options, notes)
    rows = _timeline(windows, samples, voice, predictor)
    notes += _notes(rows, samples, voice, predictor, options)
    total = time.perf_counter() - started
    return VideoResult(info, tuple(predictor.fusion.label_space), rows, tracks, notes, predictor.models(),
                       predictor.fusion.describe(), options.as_dict(),
                       {"face_path": face_seconds, "voice": total - face_seconds, "total": total}, frames)


def landmark_logits(landmarks: LandmarkPredictor, crops: list[np.ndarray]) -> np.ndarray:
    """Landmark logits (N, C) of 48x48 face crops with one model call; NaN rows where no landmarks could be fitted."""
    out = np.full((len(crops), len(landmarks.label_space)), np.nan)
    fitted = [(i, found.points) for i, crop in enumerate(crops) if (found := find_landmarks(crop, "crop")[0]).present]
    if fitted:
        rows = [i for i, _ in fitted]
        out[rows] = landmarks.model.logits(np.stack([p for _, p in fitted]), [crops[i] for i in rows])
    out[~np.isfinite(out).all(1)] = np.nan
    return out


def landmark_probs(landmarks: LandmarkPredictor, crops: list[np.ndarray]) -> np.ndarray:
    """Calibrated landmark probabilities (N, C) of 48x48 face crops, NaN rows where no landmarks could be fitted:
    the batched form of ``LandmarkPredictor.predict_image(crop, mode="crop")``."""
    return landmarks.calibrator.probs(landmark_logits(landmarks, crops))


def _face_path(info: VideoInfo, photo: PhotoPredictor, options: VideoOptions
               ) -> tuple[FaceSamples, list[FrameBoxes], list[TrackSummary]]:
    tracker = FaceTracker(max_faces=options.max_faces, every_n_frames=options.every_n_frames, follow=options.follow,
                          rescan_every=options.rescan_every, detector=options.detector)
    levels = TrackLevels(options.level)
    times, ids, frames, face_scored = [], [], [], []
    face_queue: list[np.ndarray] = []  # crops waiting for the face network
    landmark_queue: list[tuple[int, np.ndarray]] = []  # (sample row, crop) of detection frames
    landmark_rows: list[int] = []
    landmark_scored: list[np.ndarray] = []
    summaries: dict[int, TrackSummary] = {}
    next_sample = 0.0

    def score_landmarks() -> None:
        landmark_rows.extend(row for row, _ in landmark_queue)
        landmark_scored.append(landmark_logits(photo.landmarks, [crop for _, crop in landmark_queue]))
        landmark_queue.clear()

    for index, t, gray in tqdm(iter_frames(info), total=info.frame_count, desc=info.path.name, unit="frame",
                               disable=not options.progress, leave=False):
        if options.sample_fps is not None:
            if t < next_sample - 1e-6:
                continue
            next_sample = (np.floor(t * options.sample_fps + 1e-6) + 1) / options.sample_fps
        visible, detection_frame = tracker.step(gray)
        frames.append(FrameBoxes(index, t, tuple((track.id, tuple(track.box)) for track in visible)))
        for track in visible:
            summary = summaries.setdefault(track.id, TrackSummary(track.id, t, t, 0, 0))
            summary.last_s, summary.frames = t, summary.frames + 1
            summary.detections += int(detection_frame)
            if not (detection_frame or options.score_every_frame):
                continue
            crop = levels.crop(gray, track.id, track.box, measure=detection_frame)
            if detection_frame and photo.landmarks is not None:
                landmark_queue.append((len(times), crop))
            times.append(t)
            ids.append(track.id)
            face_queue.append(crop)
        if len(face_queue) >= options.batch_size:
            face_scored.append(photo.face.logits_crops(np.stack(face_queue)))
            face_queue = []
        if len(landmark_queue) >= options.batch_size:
            score_landmarks()
    if face_queue:
        face_scored.append(photo.face.logits_crops(np.stack(face_queue)))
    if landmark_queue:
        score_landmarks()
    n_landmark_classes = len(photo.landmarks.label_space) if photo.landmarks is not None else 0
    landmarks = np.full((len(times), n_landmark_classes), np.nan)
    if landmark_rows:
        landmarks[landmark_rows] = np.concatenate(landmark_scored)
    face = np.concatenate(face_scored) if face_scored else np.zeros((0, len(photo.face.label_space)))
    lm_calibrator = photo.landmarks.calibrator if photo.landmarks is not None else None
    samples = FaceSamples(np.asarray(times, np.float64), np.asarray(ids, np.int64), photo.face.calibrator.probs(face),
                          landmarks if lm_calibrator is None else lm_calibrator.probs(landmarks),
                          photo.face.calibrator.smooth_probs(face),
                          landmarks if lm_calibrator is None else lm_calibrator.smooth_probs(landmarks))
    return samples, frames, sorted(summaries.values(), key=lambda s: s.id)


def _voice_path(info: VideoInfo, voice: AudioPredictor | None, windows: list[tuple[float, float]],
                options: VideoOptions, notes: list[str]) -> VoiceWindows | None:
    if voice is None:
        notes.append("no speech model loaded: face only")
        return None
    if not options.use_audio:
        notes.append("soundtrack not used (voice off): face only")
        return None
    if not info.has_audio:
        notes.append("no audio stream: face only")
        return None
    wave = decode_soundtrack(info, voice.sample_rate)[0]
    detector = shared_detector() if options.speech_activity else None
    found = voice_windows(wave, windows, voice, options.silence_db, detector)
    loud = found.level_db > FLOOR_DBFS
    if not loud.any():
        notes.append("the soundtrack is silent (no window above -60 dBFS): face only")
    elif not found.sound.any():
        notes.append("no speech in the soundtrack (sound without a voice: music, noise, tones): face only")
    return found


def _window_mean(rows: np.ndarray) -> np.ndarray:
    """Mean over the rows with a prediction; NaN when there is none."""
    present = np.isfinite(rows).all(1)
    return rows[present].mean(0) if present.any() else np.full(rows.shape[1], np.nan)


def _timeline(windows: list[tuple[float, float]], samples: FaceSamples, voice: VoiceWindows | None,
              predictor: VideoPredictor) -> list[TimelineRow]:
    photo = predictor.photo
    keys, face, landmarks, face_counts, landmark_counts, face_input, landmarks_input = [], [], [], [], [], [], []
    for w, (start, end) in enumerate(windows):
        last = w == len(windows) - 1
        inside = (samples.times >= start) & ((samples.times <= end) if last else (samples.times < end))
        present_tracks = sorted(set(samples.tracks[inside].tolist()))
        for track in present_tracks or [None]:
            rows = inside & (samples.tracks == track) if track is not None else np.zeros_like(inside)
            keys.append((w, track))
            face.append(_window_mean(samples.face[rows]))
            landmarks.append(_window_mean(samples.landmarks[rows]))
            face_input.append(_window_mean(samples.face_input[rows]))
            landmarks_input.append(_window_mean(samples.landmarks_input[rows]))
            face_counts.append(int(rows.sum()))
            landmark_counts.append(int(np.isfinite(samples.landmarks[rows]).all(1).sum())
                                   if photo.landmarks is not None else 0)
    window_of = np.array([w for w, _ in keys])
    face_arr = np.asarray(face, np.float64)
    lm_arr = np.asarray(landmarks, np.float64) if photo.landmarks is not None else None
    voice_native = voice.probs[window_of] if voice is not None else None
    voice_fer7 = voice.fer7[window_of] if voice is not None else None
    face_side, fused = predictor.fusion.fuse(face_arr, lm_arr, voice_native, voice_fer7,
                                             face_input=np.asarray(face_input, np.float64),
                                             landmarks_input=np.asarray(landmarks_input, np.float64) if lm_arr is not None else None)
    labels = tuple(predictor.fusion.label_space)
    out = []
    for k, (w, track) in enumerate(keys):
        branches = {photo.face.branch: named_probs(photo.face.label_space, face_arr[k])}
        if photo.landmarks is not None:
            branches[photo.landmarks.branch] = named_probs(photo.landmarks.label_space, lm_arr[k])
        if predictor.voice is not None:
            branches[predictor.voice.branch] = None if voice is None else named_probs(FER7, voice.fer7[w])
        fused_k = named_probs(labels, fused[k])
        out.append(TimelineRow(
            start=windows[w][0], end=windows[w][1], track=track, face_frames=face_counts[k],
            landmark_frames=landmark_counts[k], sound=None if voice is None else bool(voice.sound[w]),
            sound_db=None if voice is None else float(voice.level_db[w]),
            speech=None if voice is None or voice.speech is None else float(voice.speech[w]), branches=branches,
            face_side=None if face_side is None else named_probs(labels, face_side[k]), fused=fused_k,
            label=None if fused_k is None else max(fused_k, key=fused_k.get)))
    return out


def _notes(rows: list[TimelineRow], samples: FaceSamples, voice: VoiceWindows | None, predictor: VideoPredictor,
           options: VideoOptions) -> list[str]:
    notes = []
    voice_used = voice is not None and bool(voice.sound.any())
    if len(samples.times) == 0:
        notes.append("no face found in any frame: voice only" if voice_used
                     else "no face found in any frame and no sound: nothing to classify")
    empty = sum(r.fused is None for r in rows)
    if empty and len(samples.times):
        notes.append(f"{empty} of {len(rows)} windows have neither a face nor sound: no prediction for them")
    if voice_used and predictor.fusion.voice_fusion is None:
        notes.append(f"face side and voice pooled by the default {DEFAULT_POOL}")
    if voice_used and options.max_faces > 1 and len({r.track for r in rows if r.track is not None}) > 1:
        notes.append("the voice is pooled into every face track's rows (who is speaking is not known)")
    cadence = f"on detection frames (1 processed frame in {options.every_n_frames})"
    has_landmarks = predictor.photo.landmarks is not None
    if options.score_every_frame:
        notes.append("the face model scored on every processed frame"
                     + (f", landmarks {cadence}" if has_landmarks else ""))
    else:
        notes.append(f"{'face and landmarks' if has_landmarks else 'face'} scored {cadence}")
    if options.sample_fps is not None:
        notes.append(f"frames processed at most {options.sample_fps:g} per second")
    return notes
