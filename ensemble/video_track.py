"""Follow faces through a video: one track id per person, boxes between detections.

The rule, per processed frame:

* Every ``every_n_frames``-th processed frame is a *detection frame*: ``fer_face.faces.detect_faces`` with the
  photos' detector and confidence order (most confident first), of which the ``max_faces`` most confident
  detections are kept. While ``max_faces`` tracks are known and all visible, a detection frame searches only the
  regions around their boxes (``detect_faces_near``: each box grown by its size on every side), and every
  ``rescan_every``-th detection frame searches the whole frame again, for faces that came in elsewhere.
* Kept detections are assigned to known tracks greedily by intersection over union, highest first, when the IoU
  is at least ``min_iou``. An assigned track takes the detected box. An unassigned detection starts a new track
  while fewer than ``max_faces`` tracks are known; otherwise it replaces the known track that went longest
  without a detection, if that track was missed in this round.
* A known track that no detection matched is *hidden*: it gets no box (so no prediction) until it is detected
  again, and it is forgotten after ``patience`` detection rounds without a match. A face that reappears within
  that time, overlapping its last box, keeps its id.
* Between detection frames a visible track keeps its last box (``follow="hold"``), or follows dlib's correlation
  tracker (``follow="correlation"``). bench/video_speed.py measures the cost and the box quality of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dlib
import numpy as np

from fer_face.faces import DEFAULT_DETECTOR, Detection, FaceBox, detect_faces, detect_faces_near, iou

FOLLOW_MODES = ("hold", "correlation")


@dataclass
class Track:
    id: int
    box: FaceBox
    score: float  # the detector's score at the last detection
    missed: int = 0  # detection rounds in a row without a matching detection; > 0: hidden
    follower: object | None = field(default=None, repr=False)  # dlib.correlation_tracker when following

    @property
    def visible(self) -> bool:
        return self.missed == 0


class FaceTracker:
    """Feed it every processed frame in order; ``step`` returns the visible tracks of that frame."""

    def __init__(self, *, max_faces: int = 1, every_n_frames: int = 5, follow: str = "hold", min_iou: float = 0.3,
                 patience: int = 2, detector: str = DEFAULT_DETECTOR, rescan_every: int = 6):
        if follow not in FOLLOW_MODES:
            raise ValueError(f"follow must be one of {FOLLOW_MODES}, not {follow!r}")
        self.max_faces, self.every_n_frames, self.follow = max_faces, every_n_frames, follow
        self.min_iou, self.patience, self.detector = min_iou, patience, detector
        self.rescan_every = rescan_every  # 1: the whole frame on every detection frame
        self.tracks: list[Track] = []
        self.next_id = 0
        self.processed = 0
        self.detection_rounds = 0

    def step(self, gray: np.ndarray) -> tuple[list[Track], bool]:
        """(visible tracks, whether this was a detection frame) for the next processed grayscale frame."""
        detection_frame = self.processed % self.every_n_frames == 0
        self.processed += 1
        if detection_frame:
            self._assign(self._detect(gray)[: self.max_faces], gray)
        elif self.follow == "correlation":
            for track in self.tracks:
                if track.visible:
                    track.follower.update(gray)
                    track.box = _box_of(track.follower.get_position())
        return [t for t in self.tracks if t.visible], detection_frame

    def _detect(self, gray: np.ndarray) -> list[Detection]:
        rescan = self.detection_rounds % self.rescan_every == 0
        self.detection_rounds += 1
        if rescan or len(self.tracks) < self.max_faces or not all(t.visible for t in self.tracks):
            return detect_faces(gray, self.detector)
        return detect_faces_near(gray, [t.box for t in self.tracks], detector=self.detector)

    def _assign(self, detections: list[Detection], gray: np.ndarray) -> None:
        pairs = sorted(((iou(d.box, t.box), di, ti) for di, d in enumerate(detections)
                        for ti, t in enumerate(self.tracks)), reverse=True)
        matched_detections, matched_tracks = set(), set()
        for overlap, di, ti in pairs:
            if overlap < self.min_iou:
                break
            if di in matched_detections or ti in matched_tracks:
                continue
            matched_detections.add(di)
            matched_tracks.add(ti)
            self._refresh(self.tracks[ti], detections[di], gray)
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.missed += 1
        for di, detection in enumerate(detections):
            if di in matched_detections:
                continue
            if len(self.tracks) >= self.max_faces:
                unmatched = [t for t in self.tracks if t.missed > 0]
                if not unmatched:
                    continue
                self.tracks.remove(max(unmatched, key=lambda t: t.missed))
            track = Track(self.next_id, detection.box, detection.score)
            self.next_id += 1
            self._refresh(track, detection, gray)
            self.tracks.append(track)
        self.tracks = [t for t in self.tracks if t.missed <= self.patience]

    def _refresh(self, track: Track, detection: Detection, gray: np.ndarray) -> None:
        track.box, track.score, track.missed = detection.box, detection.score, 0
        if self.follow == "correlation":
            track.follower = dlib.correlation_tracker()
            left, top, right, bottom = detection.box
            track.follower.start_track(gray, dlib.rectangle(left, top, right - 1, bottom - 1))  # dlib: inclusive


def _box_of(rect) -> FaceBox:
    return FaceBox(int(round(rect.left())), int(round(rect.top())), int(round(rect.right())) + 1,
                   int(round(rect.bottom())) + 1)
