"""What ``predict_video`` returns: the timeline (one row per time window and face track), tracks, notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ensemble.video_decode import VideoInfo

Box = tuple[int, int, int, int]


def rounded_probs(probs: dict[str, float] | None) -> dict[str, float] | None:
    return None if probs is None else {k: round(v, 6) for k, v in probs.items()}


def named_probs(labels: tuple[str, ...], row: np.ndarray | None) -> dict[str, float] | None:
    """A probability row as {label: p}; None for a missing (None or NaN) row."""
    if row is None or not np.isfinite(row).all():
        return None
    return dict(zip(labels, map(float, row)))


@dataclass
class TimelineRow:
    """One time window of one face track (``track`` None: a window in which no face was tracked)."""

    start: float  # s since the first video frame
    end: float
    track: int | None
    face_frames: int  # frames of the track in the window
    landmark_frames: int  # of those, detection frames with a landmark prediction
    sound: bool | None  # None: no soundtrack used
    sound_db: float | None  # RMS level of the window, dBFS
    speech: float | None  # share of the window's 32 ms frames with speech; None: not measured
    branches: dict[str, dict[str, float] | None]  # loaded branch id -> window probabilities (voice: mapped to FER7)
    face_side: dict[str, float] | None  # face/landmark fusion (or face) before the voice; None with an audio fusion
    fused: dict[str, float] | None  # None: neither a face nor sound in the window
    label: str | None

    @property
    def confidence(self) -> float | None:
        return None if self.fused is None else self.fused[self.label]

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "track": self.track, "face_frames": self.face_frames,
                "landmark_frames": self.landmark_frames, "sound": self.sound,
                "sound_db": None if self.sound_db is None else round(self.sound_db, 2),
                "speech": None if self.speech is None else round(self.speech, 3), "label": self.label,
                "confidence": None if self.confidence is None else round(self.confidence, 6),
                "fused": rounded_probs(self.fused), "face_side": rounded_probs(self.face_side),
                "branches": {k: rounded_probs(v) for k, v in self.branches.items()}}


@dataclass
class TrackSummary:
    id: int
    first_s: float
    last_s: float
    frames: int  # processed frames in which the track had a box
    detections: int  # of those, detection frames

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "first_s": round(self.first_s, 4), "last_s": round(self.last_s, 4),
                "frames": self.frames, "detections": self.detections}


@dataclass
class FrameBoxes:
    """The tracked boxes of one processed frame (for drawing them)."""

    index: int  # decoded frame number
    time: float
    boxes: tuple[tuple[int, Box], ...]  # (track id, box)


@dataclass
class VideoResult:
    info: VideoInfo
    label_space: tuple[str, ...]
    rows: list[TimelineRow]
    tracks: list[TrackSummary]
    notes: list[str]
    models: dict[str, Any]
    fusion: dict[str, Any]
    options: dict[str, Any]
    seconds: dict[str, float]  # wall time: face path, voice, total
    frames: list[FrameBoxes] = field(default_factory=list, repr=False)

    @property
    def branch_names(self) -> list[str]:
        return list(self.rows[0].branches) if self.rows else []

    def as_dict(self) -> dict[str, Any]:
        return {"file": str(self.info.path), "video": self.info.as_dict(), "models": self.models,
                "fusion": self.fusion, "options": self.options, "label_space": list(self.label_space),
                "notes": self.notes, "tracks": [t.as_dict() for t in self.tracks],
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "timeline": [r.as_dict() for r in self.rows]}
