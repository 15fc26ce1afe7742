"""The project's one face detector (dlib's HOG frontal detector) and safe image loading.

Every part that starts from an ordinary photo uses this module: the face branch's ``predict``,
the landmark branch and the dashboard. FER2013 images are already face crops and skip detection.

    from fer_face.faces import load_image, to_gray, largest_face, crop_face
    gray = to_gray(load_image("photo.jpg"))
    box = largest_face(gray)                      # FaceBox(left, top, right, bottom) or None
    face48 = crop_face(gray, box)                 # uint8 (48, 48)
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from fer_core.errors import DataError

# dlib's HOG detector finds faces from about 80x80 px up: small images are upscaled before detection
# and huge ones downscaled (detection time grows with the pixel count), then boxes are mapped back.
DETECT_MIN_SIDE = 192
DETECT_MAX_SIDE = 1280

_detector = None
_detector_lock = threading.Lock()


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


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file; a one-line DataError naming the file if that fails.

    PIL's decompression-bomb guard is enforced as an error (not just a warning): a file that
    claims more than ``Image.MAX_IMAGE_PIXELS`` pixels is refused before it is decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: refused, image is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(f"{path}: corrupt or unreadable image ({e.__class__.__name__}); use a JPEG/PNG photo") from None


def to_gray(image: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image or array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) -> uint8 (H, W) grayscale.

    Float arrays with values in [0, 1] are read as intensities in [0, 1]; other arrays as 0..255.
    """
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        return np.asarray(image.convert("L"), dtype=np.uint8)
    a = np.asarray(image)
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
        if a.size and a.max() <= 1.0 and a.min() >= 0.0 and np.asarray(image).dtype.kind == "f":
            a = a * 255.0
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return a


def _get_detector():
    global _detector
    with _detector_lock:
        if _detector is None:
            import dlib

            _detector = dlib.get_frontal_face_detector()
        return _detector


def detect_faces(gray: np.ndarray) -> list[FaceBox]:
    """All frontal faces in a uint8 grayscale image, largest first (empty list: none found)."""
    gray = to_gray(gray)
    h, w = gray.shape
    scale = 1.0
    if min(h, w) < DETECT_MIN_SIDE:
        scale = DETECT_MIN_SIDE / min(h, w)
    elif max(h, w) > DETECT_MAX_SIDE:
        scale = DETECT_MAX_SIDE / max(h, w)
    work = gray
    if scale != 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        work = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR))
    rects = _get_detector()(np.ascontiguousarray(work), 0)
    boxes = [
        FaceBox(int(round(r.left() / scale)), int(round(r.top() / scale)),
                int(round((r.right() + 1) / scale)), int(round((r.bottom() + 1) / scale)))
        for r in rects
    ]
    return sorted(boxes, key=lambda b: b.area, reverse=True)


def largest_face(gray: np.ndarray) -> FaceBox | None:
    """The largest detected face, or None when the detector finds none."""
    faces = detect_faces(gray)
    return faces[0] if faces else None


def crop_face(image: Image.Image | np.ndarray, box: FaceBox | tuple[int, int, int, int], margin: float = 0.2,
              size: int = 48) -> np.ndarray:
    """Square grayscale crop around ``box``, enlarged by ``margin`` of its size per side, as uint8 (size, size).

    Parts of the enlarged square outside the image are filled by repeating the border pixels.
    """
    gray = to_gray(image)
    left, top, right, bottom = (float(v) for v in box)
    if not (right > left and bottom > top):
        raise ValueError(f"empty face box {tuple(box)}")
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = max(right - left, bottom - top) * (1 + 2 * margin) / 2
    x0, y0 = int(np.floor(cx - half)), int(np.floor(cy - half))
    side = max(1, int(np.ceil(2 * half)))
    h, w = gray.shape
    rows = np.clip(np.arange(y0, y0 + side), 0, h - 1)
    cols = np.clip(np.arange(x0, x0 + side), 0, w - 1)
    square = gray[np.ix_(rows, cols)]
    return np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
