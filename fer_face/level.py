"""Levelling the eyes before a face is cropped: a photo's head may lean far more than FER2013's heads do.

    from fer_face.level import level_face
    crop, degrees = level_face(gray, detection.box)   # uint8 (48, 48), eyes level; the turn it took

The slope of the line through the two eye centres of dlib's 68 landmarks, fitted on the crop, is the face's tilt;
the face is cut again from the photo turned by that angle, and the fit repeated once on the turned crop (a fit on
a strongly tilted face falls short of the whole angle). FER2013's own faces lean (a quarter of PublicTest by 10
degrees or more) and the networks read that lean, so levelling costs an upright face a little; letting a face keep
some slope (``keep_degrees``) costs a leaning one more. Fully level was chosen on PublicTest with
``bench/tilt_robustness.py`` (docs/faces.md has the numbers).
"""

from __future__ import annotations

import numpy as np

from fer_face.faces import FaceBox, crop_face
from fer_face.landmarks.extract import landmarks_in_crop

KEEP_SLOPE_DEGREES = 0.0  # the eye-line slope a face may keep; 0: level
LEVEL_PASSES = 2
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)  # the subject's eyes: image left, image right


def eye_tilt(points: np.ndarray) -> float:
    """Degrees the eye line slopes down to the image's right (y points down) for 68 landmark points (68, 2)."""
    dx, dy = np.asarray(points)[LEFT_EYE].mean(0) - np.asarray(points)[RIGHT_EYE].mean(0)
    return float(np.degrees(np.arctan2(dy, dx)))


def crop_tilt(crop: np.ndarray) -> float | None:
    """The eye line's slope in a face crop (uint8 (H, W)); None when no landmarks could be fitted."""
    found = landmarks_in_crop(crop)
    return eye_tilt(found.points) if found.present else None


def level_face(gray: np.ndarray, box: FaceBox | tuple[int, int, int, int], size: int = 48, margin: float = 0.2,
               keep_degrees: float = KEEP_SLOPE_DEGREES, passes: int = LEVEL_PASSES) -> tuple[np.ndarray, float]:
    """The face in ``box`` cut from the uint8 image ``gray`` (as ``crop_face`` cuts it) with its eye line sloping by
    at most ``keep_degrees`` (0: level), and the angle it was turned by (counter-clockwise, as ``crop_face`` takes
    it; 0.0 when it was cut as it stands)."""
    crop = crop_face(gray, box, margin, size)
    first = crop_tilt(crop)
    if first is None or abs(first) <= keep_degrees:
        return crop, 0.0
    target = float(np.sign(first)) * keep_degrees
    degrees = first - target
    crop = crop_face(gray, box, margin, size, degrees)
    for _ in range(passes - 1):
        tilt = crop_tilt(crop)
        if tilt is None:
            break
        degrees += tilt - target
        crop = crop_face(gray, box, margin, size, degrees)
    return crop, degrees


class TrackLevels:
    """The tilt of each followed face (video, live): measured on the frames where the detector re-found it, reused
    on the frames in between, so following a face costs no landmark fit."""

    def __init__(self, level: bool = True):
        self.level = level
        self.degrees: dict[int, float] = {}

    def crop(self, gray: np.ndarray, track_id: int, box: FaceBox | tuple[int, int, int, int], measure: bool,
             size: int = 48) -> np.ndarray:
        """Face ``track_id`` cut from ``gray`` at ``box``; ``measure``: fit its tilt anew on this frame."""
        if not self.level:
            return crop_face(gray, box, size=size)
        if measure or track_id not in self.degrees:
            crop, self.degrees[track_id] = level_face(gray, box, size)
            return crop
        return crop_face(gray, box, size=size, degrees=self.degrees[track_id])

    def keep(self, track_ids: set[int]) -> None:
        """Forget the faces no longer followed."""
        self.degrees = {k: v for k, v in self.degrees.items() if k in track_ids}
