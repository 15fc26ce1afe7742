"""The project's face detection (dlib: HOG by default, CNN as an option) and safe image loading.

Every part that starts from an ordinary photo uses this module: the face branch's ``predict``,
the landmark branch and the dashboard. FER2013 images are already face crops and skip detection.

    from fer_face.faces import load_image, to_gray, best_face, detect_faces, crop_face
    gray = to_gray(load_image("photo.jpg"))
    face = best_face(gray)                        # Detection(box=FaceBox(...), score) or None
    every = detect_faces(gray)                    # all faces, most confident first
    face48 = crop_face(gray, face.box)            # uint8 (48, 48)

Which face: the most confident detection, never the largest box (on scikit-image's astronaut photo the
HOG detector also reports the mission patch on her suit, with a larger box and a score near 0).

Which detector (bench/face_detectors.py, 100 640x480 composites with 172 FER2013 faces of 80-200 px, IoU >= 0.4;
bench/results/face_detectors.md): ``hog`` (dlib's frontal HOG + SVM) recall 0.69, 0.04 false positives per image,
36 CPU ms per image; ``cnn`` (dlib's MMOD CNN, weights from ``face-recognition-models``) recall 0.86, 0.06 false
positives per image, about 3,000 CPU ms per image. A photo has a budget of <= 50 ms including detection on 2 cores,
which only HOG meets, so ``hog`` is the default and ``cnn`` the opt-in (``detector="cnn"``) for offline use
where recall matters more than time.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fer_core.errors import DataError, UserError

# dlib's HOG detector finds faces from about 80x80 px up: small images are upscaled before detection
# and huge ones downscaled (detection time grows with the pixel count), then boxes are mapped back.
# Both detectors run on the same rescaled image, without dlib's own upsampling (which costs 4x the time).
DETECT_MIN_SIDE = 192
DETECT_MAX_SIDE = 1280
DETECT_WINDOW = 80  # px: the smallest face either detector finds at the scale it is given

DETECTORS = ("hog", "cnn")
DEFAULT_DETECTOR = "hog"

_idle_detectors: dict[str, list[object]] = {name: [] for name in DETECTORS}
_pool_lock = threading.Lock()


class FaceBox(NamedTuple):
    """A face rectangle in pixel coordinates of the image it was found in (right/bottom exclusive).

    It may extend past the image border (dlib boxes do); ``crop_face`` pads.
    """

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)


class Detection(NamedTuple):
    """One detected face: its box and the detector's confidence (higher is surer; the scale is the detector's)."""

    box: FaceBox
    score: float


# what load_image reads: a photo folder is searched for these (fer predict DIR, fer face crop, image datasets)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".heic", ".heif", ".avif")


@functools.cache
def register_photo_formats() -> None:
    """Let PIL open HEIC/HEIF photos (pillow-heif); AVIF, JPEG, PNG, WebP ... it opens itself."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file, upright by its EXIF orientation; a one-line DataError naming the file
    if that fails.

    PIL's decompression-bomb guard is enforced as an error (not just a warning): a file that
    claims more than ``Image.MAX_IMAGE_PIXELS`` pixels is refused before it is decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image not found")
    register_photo_formats()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                # a phone stores its photo sideways plus an EXIF rotation: faces and boxes are of the photo as shown
                return ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: refused, image is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(f"{path}: corrupt or unreadable image ({e.__class__.__name__}); use a JPEG/PNG photo") from None


def deeper_than_8_bits(image: Image.Image) -> bool:
    """16-bit or 32-bit integer or float pixels: Pillow's ``convert`` to 8 bits would clip them, ``to_gray`` scales."""
    return image.mode in ("I", "F") or image.mode.startswith("I;16")


def to_gray(image: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image or array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) -> uint8 (H, W) grayscale.

    Float pixels in [0, 1] are read as intensities in [0, 1]; 16-bit pixels (uint16 arrays, 16-bit PNG and TIFF)
    and other integers above 255 as 0..65535; anything else as 0..255.
    """
    if isinstance(image, Image.Image):
        if deeper_than_8_bits(image):
            return to_gray(np.asarray(image))  # scaled by their values below
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        return np.asarray(image.convert("L"), dtype=np.uint8)
    a = np.asarray(image)
    kind = a.dtype.kind
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[:, :, :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"expected a grayscale (H, W) or colour (H, W, 3) image, got an array of shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.asarray(a, np.float64)
        if not np.isfinite(a).all():
            raise DataError("image array contains NaN or infinite values")
        if a.size and kind == "f" and a.max() <= 1.0 and a.min() >= 0.0:
            a = a * 255.0
        elif a.size and kind in "iu" and (np.asarray(image).dtype == np.uint16 or a.max() > 255):
            a = a * (255.0 / 65535.0)
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return a


def cnn_model_path() -> str:
    import face_recognition_models

    return face_recognition_models.cnn_face_detector_model_location()


def _load_detector(name: str):
    import dlib

    if name == "hog":
        return dlib.get_frontal_face_detector()
    return dlib.cnn_face_detection_model_v1(cnn_model_path())


@contextlib.contextmanager
def _borrowed_detector(name: str) -> Iterator[object]:
    """A detector instance for this caller alone, loaded on first need and reused afterwards.

    dlib's detectors keep per-call state (object_detector's scanner, the CNN's layer outputs), so one instance
    must not run in two threads at once; dlib releases the GIL while detecting, so concurrent callers each get
    their own instance and run in parallel (the pool grows to the highest concurrency seen).
    """
    if name not in DETECTORS:
        raise UserError(f"unknown face detector {name!r}; choose from {', '.join(DETECTORS)}")
    with _pool_lock:
        detector = _idle_detectors[name].pop() if _idle_detectors[name] else None
    if detector is None:
        detector = _load_detector(name)
    try:
        yield detector
    finally:
        with _pool_lock:
            _idle_detectors[name].append(detector)


def _run(name: str, image: np.ndarray) -> list[tuple[object, float]]:
    """(dlib rectangle, score) for every face dlib's ``name`` detector finds in ``image``, at its own threshold."""
    with _borrowed_detector(name) as detector:
        if name == "hog":
            rects, scores, _ = detector.run(image, 0, 0.0)
            return list(zip(rects, scores))
        return [(d.rect, d.confidence) for d in detector(image, 0)]


def detection_scale(height: int, width: int, min_face: int | None = None) -> float:
    """How much an image is resized before detection: small ones up to DETECT_MIN_SIDE, huge ones down; with
    ``min_face`` (px of the image) so that a face of that size meets the detectors' DETECT_WINDOW, at most
    DETECT_MAX_SIDE on the longer side. Above DETECT_WINDOW px it trades the smaller faces for time."""
    if min_face is not None:
        if min_face < 1:
            raise UserError(f"--min-face {min_face}: the smallest face to find, in pixels (at least 1)")
        return min(DETECT_WINDOW / min_face, DETECT_MAX_SIDE / max(height, width))
    if min(height, width) < DETECT_MIN_SIDE:
        return DETECT_MIN_SIDE / min(height, width)
    if max(height, width) > DETECT_MAX_SIDE:
        return DETECT_MAX_SIDE / max(height, width)
    return 1.0


HOG_CELL = 8  # px: dlib's HOG detector scores windows on this grid


def _resized(gray: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return gray
    h, w = gray.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR))


def _detections(work: np.ndarray, scale: float, detector: str, left: int = 0, top: int = 0) -> list[Detection]:
    """Faces in ``work`` (a part of the image resized by ``scale``, its corner at (``left``, ``top``) of the
    resized image), boxes in the original image's coordinates."""
    return [
        Detection(FaceBox(int(round((left + r.left()) / scale)), int(round((top + r.top()) / scale)),
                          int(round((left + r.right() + 1) / scale)), int(round((top + r.bottom() + 1) / scale))),
                  float(score))
        for r, score in _run(detector, np.ascontiguousarray(work))
    ]


def detect_faces(gray: np.ndarray, detector: str = DEFAULT_DETECTOR, min_face: int | None = None) -> list[Detection]:
    """Every frontal face in a grayscale image with its detector score, most confident first (empty: none).

    Scores are the detector's own: comparable between faces found by one detector, not across detectors.
    ``min_face``: the smallest face side to look for, in pixels of the image (``detection_scale``).
    """
    gray = to_gray(gray)
    scale = detection_scale(*gray.shape, min_face)
    return sorted(_detections(_resized(gray, scale), scale, detector), key=lambda d: d.score, reverse=True)


def detect_faces_near(gray: np.ndarray, boxes: Sequence[FaceBox | tuple[int, int, int, int]], margin: float = 1.0,
                      detector: str = DEFAULT_DETECTOR) -> list[Detection]:
    """Faces inside the regions around ``boxes`` (each box grown by ``margin`` times its size on every side),
    most confident first; a face seen from two regions is kept once.

    The regions are cut from the image resized as ``detect_faces`` resizes it, with their corners on the HOG
    detector's cell grid, so a face inside a region gets the box and score the whole image would give it (the
    CNN detector's boxes can differ by a few pixels). Far cheaper than the whole image when the boxes are small.
    """
    gray = to_gray(gray)
    scale = detection_scale(*gray.shape)
    work = _resized(gray, scale)
    h, w = work.shape
    candidates: list[Detection] = []
    for left, top, right, bottom in boxes:
        grow_x, grow_y = margin * (right - left) * scale, margin * (bottom - top) * scale
        x0, y0 = max(0, int(left * scale - grow_x)), max(0, int(top * scale - grow_y))
        x0, y0 = x0 - x0 % HOG_CELL, y0 - y0 % HOG_CELL
        x1, y1 = min(w, int(np.ceil(right * scale + grow_x))), min(h, int(np.ceil(bottom * scale + grow_y)))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            candidates += _detections(work[y0:y1, x0:x1], scale, detector, x0, y0)
    kept: list[Detection] = []
    for d in sorted(candidates, key=lambda d: d.score, reverse=True):  # one face seen from two regions: once
        if all(iou(d.box, k.box) < 0.5 for k in kept):
            kept.append(d)
    return kept


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def best_face(gray: np.ndarray, detector: str = DEFAULT_DETECTOR) -> Detection | None:
    """The most confident face, or None when the detector finds none."""
    faces = detect_faces(gray, detector)
    return faces[0] if faces else None


def crop_window(box: FaceBox | tuple[int, int, int, int], margin: float = 0.2) -> tuple[int, int, int]:
    """(left, top, side) of the square ``crop_face`` cuts around ``box``: a point p of an unturned crop of ``size``
    px lies at ``(left, top) + p * side / size`` in the image (``crop_to_image`` also undoes a turn)."""
    left, top, right, bottom = (float(v) for v in box)
    if not (right > left and bottom > top):
        raise ValueError(f"empty face box {tuple(box)}")
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = max(right - left, bottom - top) * (1 + 2 * margin) / 2
    return int(np.floor(cx - half)), int(np.floor(cy - half)), max(1, int(np.ceil(2 * half)))


def crop_face(image: Image.Image | np.ndarray, box: FaceBox | tuple[int, int, int, int], margin: float = 0.2,
              size: int = 48, degrees: float = 0.0) -> np.ndarray:
    """Square grayscale crop around ``box``, enlarged by ``margin`` of its size per side, as uint8 (size, size).

    ``degrees``: the image is first turned counter-clockwise by this angle about the square's centre, so a face
    whose eyes slope by ``degrees`` (``fer_face.level``) comes out level. Parts of the square outside the image are
    filled by repeating the border pixels.
    """
    gray = to_gray(image)
    x0, y0, side = crop_window(box, margin)
    # a turned square reaches sqrt(2)/2 of its side from the centre: cut that much more before turning
    pad = int(np.ceil(side * (np.sqrt(2) - 1) / 2)) if degrees else 0
    h, w = gray.shape
    rows = np.clip(np.arange(y0 - pad, y0 + side + pad), 0, h - 1)
    cols = np.clip(np.arange(x0 - pad, x0 + side + pad), 0, w - 1)
    square = Image.fromarray(gray[np.ix_(rows, cols)])
    if degrees:
        square = square.rotate(degrees, resample=Image.Resampling.BILINEAR).crop((pad, pad, pad + side, pad + side))
    return np.asarray(square.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def crop_to_image(points: np.ndarray, box: FaceBox | tuple[int, int, int, int], size: int, margin: float = 0.2,
                  degrees: float = 0.0) -> np.ndarray:
    """Points (N, 2) of a ``crop_face(image, box, margin, size, degrees)`` crop, in pixels of the image."""
    x0, y0, side = crop_window(box, margin)
    centre = np.array([x0 + side / 2, y0 + side / 2])
    turned = np.asarray(points, np.float64) * (side / size) + [x0, y0] - centre
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    # the crop was turned counter-clockwise on screen (y points down): turn its points back clockwise
    return turned @ np.array([[c, s], [-s, c]]) + centre
