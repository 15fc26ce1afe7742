"""Untrusted uploads: size and type limits, a decompression-bomb guard, and temp-dir-only files.

Images are decoded in memory (never written to disk); audio clips are written to a fresh temporary
directory under a fixed name (the uploaded file name is never used as a path) and deleted afterwards.
Nothing from an upload is ever unpickled.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageOps, UnidentifiedImageError

from fer_core.errors import UserError

IMAGE_TYPES = ("jpg", "jpeg", "png", "bmp", "webp")
PIL_IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")  # decoders PIL may use on an upload
AUDIO_TYPES = ("wav", "flac", "ogg")
MAX_IMAGE_MB = 10
MAX_AUDIO_MB = 20
MAX_IMAGE_PIXELS = 40_000_000  # a 40-megapixel photo is plenty for a face; PIL's default bomb limit is 89 M
MAX_AUDIO_SECONDS = 60.0


class UploadError(UserError):
    """An upload that is refused; the message says why and what is accepted."""


def _check_size(data: bytes, limit_mb: int, what: str) -> None:
    if not data:
        raise UploadError(f"the {what} is empty")
    if len(data) > limit_mb * 2**20:
        raise UploadError(f"the {what} is {len(data) / 2**20:.1f} MB; the limit is {limit_mb} MB")


def open_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode an uploaded photo to RGB, refusing oversized files, unknown formats and decompression bombs.

    The pixel count is checked from the header, before any pixel data is decoded.
    """
    _check_size(data, MAX_IMAGE_MB, "image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=PIL_IMAGE_FORMATS)
            if im.width * im.height > max_pixels:
                raise UploadError(
                    f"the image is {im.width}x{im.height} pixels; the limit is {max_pixels / 1e6:.0f} megapixels"
                )
            im.load()
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(
            f"the image claims too many pixels to decode safely (limit {max_pixels / 1e6:.0f} MP)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise UploadError(
            f"not a readable {'/'.join(PIL_IMAGE_FORMATS)} image ({e.__class__.__name__}); upload a JPEG or PNG photo"
        ) from None
    im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
    return im.convert("RGB")


def audio_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix not in AUDIO_TYPES:
        raise UploadError(f"{suffix or 'no extension'!r} is not an accepted audio type; use {', '.join(AUDIO_TYPES)}")
    return suffix


@contextlib.contextmanager
def audio_file(data: bytes, name: str) -> Iterator[Path]:
    """The uploaded clip as a file in a private temporary directory, removed on exit.

    The clip is probed (format, duration) before it is handed to any model.
    """
    import soundfile

    suffix = audio_suffix(name)
    _check_size(data, MAX_AUDIO_MB, "audio clip")
    with tempfile.TemporaryDirectory(prefix="fer-dashboard-") as tmp:
        path = Path(tmp) / f"clip.{suffix}"
        path.write_bytes(data)
        try:
            info = soundfile.info(str(path))
        except Exception as e:  # libsndfile raises its own error types for unreadable data
            raise UploadError(f"not a readable {suffix.upper()} audio file ({e.__class__.__name__})") from None
        if info.frames <= 0 or info.samplerate <= 0:
            raise UploadError("the audio clip holds no samples")
        seconds = info.frames / info.samplerate
        if seconds > MAX_AUDIO_SECONDS:
            raise UploadError(f"the clip is {seconds:.0f} s long; the limit is {MAX_AUDIO_SECONDS:.0f} s")
        yield path
