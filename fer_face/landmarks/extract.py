"""68-point landmarks with dlib's shape predictor (the model shipped by ``face-recognition-models``).

Two entry points:

* ``landmarks_in_crop(gray)``: the image is already a face crop (FER2013): upscale it to ``UPSCALE_SIDE``
  px and fit the shape inside a fixed face box (``CROP_FACE_BOX``, below).
* ``landmarks_in_photo(gray)``: an ordinary photo: find the most confident face with ``fer_face.faces``
  (the project's face detector) and fit the shape in that box.

Both return a ``Landmarks`` whose ``points`` are (68, 2) float pixel coordinates of the input image, or
``None`` with a ``reason`` when the output is unusable. Failures are data: nothing here raises for a
bad or blank image.

Each fit is the mean of the fit on the image and the (un-mirrored) fit on its mirror image: dlib's
cascade is not exactly mirror-symmetric, and averaging the two reduces its jitter on 48x48 crops.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fer_face.faces import DEFAULT_DETECTOR, best_face
from fer_face.landmarks.geometry import interocular_distance, mirror

UPSCALE_SIDE = 192
# Face box for a FER2013-style crop, as fractions of the crop (left, top, right, bottom): the whole image.
# In a pilot (6,000 Training images, logistic regression on normalised points, PublicTest accuracy) neither
# the median box of dlib's HOG detector on FER2013, (4, 7, 45, 45)/48, nor boxes grown or shrunk by 4-6 %
# did better than the whole image, so the simplest box stays.
CROP_FACE_BOX = (0.0, 0.0, 1.0, 1.0)

# Degeneracy thresholds (relative to the face box side).
MIN_SPREAD = 0.15  # the 68 points must span at least this much of the box in x and in y
MIN_EYE_DISTANCE = 0.10  # inter-ocular distance
MAX_OUTSIDE = 0.5  # how far past the box border (in box sides) any point may lie
MIN_CONTRAST = 2.0  # grey-level std of the face region; below it the image is blank (the fit says nothing)

REASONS = ("blank", "nan", "collapsed", "eyes", "outside", "no_face")

_predictor = None
_predictor_lock = threading.Lock()


@dataclass
class Landmarks:
    points: np.ndarray | None  # (68, 2) float64 pixel coordinates in the input image, None if absent
    box: tuple[float, float, float, float] | None  # face box used (left, top, right, bottom), input pixels
    reason: str | None = None  # why points is None (one of REASONS)
    score: float | None = None  # face detector's confidence for ``box`` (photos only; None for crops)

    @property
    def present(self) -> bool:
        return self.points is not None


def predictor_path() -> str:
    import face_recognition_models

    return face_recognition_models.pose_predictor_model_location()


def get_predictor():
    """The dlib 68-point shape predictor, loaded once per process (~0.7 s, 100 MB file)."""
    global _predictor
    with _predictor_lock:
        if _predictor is None:
            import dlib

            _predictor = dlib.shape_predictor(predictor_path())
        return _predictor


def _fit(gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    import dlib

    rect = dlib.rectangle(*(int(round(v)) for v in box))
    shape = get_predictor()(gray, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def fit_shape(gray: np.ndarray, box: tuple[float, float, float, float], mirror_average: bool = True) -> np.ndarray:
    """Raw predictor output (68, 2) for uint8 ``gray`` and a box (left, top, right, bottom) in its pixels."""
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    points = _fit(gray, box)
    if mirror_average:
        w = gray.shape[1]
        flipped = np.ascontiguousarray(gray[:, ::-1])
        l, t, r, b = box
        points_m = mirror(_fit(flipped, (w - 1 - r, t, w - 1 - l, b)), width=w)
        points = (points + points_m) / 2
    return points


def degeneracy(points: np.ndarray, box: tuple[float, float, float, float]) -> str | None:
    """Why ``points`` are unusable for a face in ``box``, or None if they are fine."""
    points = np.asarray(points, np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        return "nan"
    side = max(box[2] - box[0], box[3] - box[1], 1e-9)
    spread = points.max(0) - points.min(0)
    if (spread < MIN_SPREAD * side).any():
        return "collapsed"
    if not interocular_distance(points) >= MIN_EYE_DISTANCE * side:
        return "eyes"
    lo = np.array(box[:2]) - MAX_OUTSIDE * side
    hi = np.array(box[2:]) + MAX_OUTSIDE * side
    if ((points < lo) | (points > hi)).any():
        return "outside"
    return None


def _checked(gray_fit: np.ndarray, box_fit, scale: float, mirror_average: bool) -> Landmarks:
    """Fit in the (possibly upscaled) ``gray_fit`` and map points and box back by ``1 / scale``."""
    box_out = tuple(v / scale for v in box_fit)
    l, t, r, b = (int(round(v)) for v in box_fit)
    region = gray_fit[max(t, 0):max(b, 0), max(l, 0):max(r, 0)]
    if region.size == 0 or float(region.std()) < MIN_CONTRAST:
        return Landmarks(None, box_out, "blank")
    try:
        points = fit_shape(gray_fit, box_fit, mirror_average)
    except (RuntimeError, ValueError):  # dlib rejects e.g. a degenerate rectangle
        return Landmarks(None, box_out, "nan")
    reason = degeneracy(points, box_fit)
    if reason is not None:
        return Landmarks(None, box_out, reason)
    # PIL's resize puts work-image pixel i at input coordinate (i + 0.5) / scale - 0.5
    return Landmarks(points / scale + (0.5 / scale - 0.5), box_out)


def landmarks_in_crop(gray: np.ndarray, mirror_average: bool = True) -> Landmarks:
    """Landmarks of a face crop (uint8 (H, W)), upscaled so its longer side is ``UPSCALE_SIDE`` px."""
    gray = np.asarray(gray, np.uint8)
    h, w = gray.shape
    scale = UPSCALE_SIDE / max(h, w)
    big = np.asarray(Image.fromarray(gray).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                  Image.Resampling.BILINEAR))
    bh, bw = big.shape
    fl, ft, fr, fb = CROP_FACE_BOX
    box = (fl * bw, ft * bh, fr * bw, fb * bh)
    return _checked(big, box, scale, mirror_average)


def landmarks_in_photo(gray: np.ndarray, mirror_average: bool = True, detector: str = DEFAULT_DETECTOR) -> Landmarks:
    """Landmarks of the most confident face ``fer_face.faces`` finds in a photo (``reason='no_face'`` if none)."""
    gray = np.asarray(gray, np.uint8)
    face = best_face(gray, detector)
    if face is None:
        return Landmarks(None, None, "no_face")
    box = face.box
    # The predictor needs a face of at least ~100 px for stable points: upscale small faces.
    scale = max(1.0, UPSCALE_SIDE / max(box.width, 1))
    work = gray
    if scale > 1.0:
        h, w = gray.shape
        work = np.asarray(Image.fromarray(gray).resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR))
    lm = _checked(work, tuple(v * scale for v in box), scale, mirror_average)
    lm.score = face.score
    return lm
