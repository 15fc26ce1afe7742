"""Untrusted uploads: size and type limits, a decompression-bomb guard, and temp-dir-only files.

Images are decoded in memory (never written to disk); audio clips and videos are written to a fresh temporary
directory under a fixed name (the uploaded file name is never used as a path) and deleted afterwards. A video's
length and frame size are read from its container header, and the rest of it checked without decoding
(``ensemble.video_decode.probe_video``), before any frame is decoded. Nothing from an upload is ever unpickled.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageOps, UnidentifiedImageError

from fer_audio.decode import clip_seconds
from fer_core.errors import DataError, UserError
from fer_face.faces import deeper_than_8_bits, register_photo_formats, to_gray

IMAGE_TYPES = ("jpg", "jpeg", "png", "bmp", "webp", "heic", "heif", "avif")
PIL_IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "HEIF", "AVIF")  # decoders PIL may use on an upload
AUDIO_TYPES = ("wav", "flac", "ogg", "opus", "mp3", "m4a", "aac")  # fer_audio.decode reads them all
VIDEO_TYPES = ("mp4", "mkv", "webm", "mov", "avi")  # what ensemble.video decodes
MAX_IMAGE_MB = 10
MAX_AUDIO_MB = 20
MAX_VIDEO_MB = 50
MAX_IMAGE_PIXELS = 40_000_000  # a 40-megapixel photo is plenty for a face; PIL's default bomb limit is 89 M
MAX_AUDIO_SECONDS = 60.0
MAX_VIDEO_SECONDS = 60.0
# Face detection's cost grows with the frame area: 1080p keeps a minute of video to a few minutes on 2 cores.
MAX_VIDEO_SIDE = 1920
MAX_VIDEO_FPS = 120  # with MAX_VIDEO_SECONDS, the frame limit


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
    register_photo_formats()
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
    if deeper_than_8_bits(im):
        im = Image.fromarray(to_gray(im))
    return im.convert("RGB")


def _suffix(name: str, accepted: tuple[str, ...], what: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix not in accepted:
        raise UploadError(f"{suffix or 'no extension'!r} is not an accepted {what} type; use {', '.join(accepted)}")
    return suffix


def audio_suffix(name: str) -> str:
    return _suffix(name, AUDIO_TYPES, "audio")


def video_suffix(name: str) -> str:
    return _suffix(name, VIDEO_TYPES, "video")


@contextlib.contextmanager
def audio_file(data: bytes, name: str) -> Iterator[Path]:
    """The uploaded clip as a file in a private temporary directory, removed on exit.

    The clip is probed (format, duration) before it is handed to any model.
    """
    suffix = audio_suffix(name)
    _check_size(data, MAX_AUDIO_MB, "audio clip")
    with tempfile.TemporaryDirectory(prefix="fer-dashboard-") as tmp:
        path = Path(tmp) / f"clip.{suffix}"
        path.write_bytes(data)
        try:
            seconds = clip_seconds(path)
        except DataError as e:  # it names the temporary file; the page names the upload
            raise UploadError(f"not a readable {suffix.upper()} audio file: {str(e).split(': ', 1)[1]}") from None
        if seconds > MAX_AUDIO_SECONDS:
            raise UploadError(f"the clip is {seconds:.0f} s long; the limit is {MAX_AUDIO_SECONDS:.0f} s")
        yield path


def video_limits():
    """The dashboard's ``ensemble.video_decode.VideoLimits``."""
    from ensemble.video_decode import VideoLimits

    return VideoLimits(max_side=MAX_VIDEO_SIDE, max_seconds=MAX_VIDEO_SECONDS,
                       max_frames=round(MAX_VIDEO_SECONDS * MAX_VIDEO_FPS))


def _too_long(seconds: float) -> UploadError:
    return UploadError(f"the video is {seconds:.0f} s long; the limit is {MAX_VIDEO_SECONDS:.0f} s")


def _check_video_header(path: Path) -> None:
    """Refuse a video whose container header declares more than the limits; an unreadable header is left to
    ``probe_video``, which says why."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            seconds = container.duration / av.time_base if container.duration else None
            if seconds is not None and seconds > MAX_VIDEO_SECONDS:
                raise _too_long(seconds)
            for stream in container.streams.video[:1]:
                width, height = stream.codec_context.width, stream.codec_context.height
                if max(width, height) > MAX_VIDEO_SIDE:
                    raise UploadError(f"the video is {width}x{height} pixels; the limit is {MAX_VIDEO_SIDE} px a "
                                      "side (scale it down)")
    except av.error.FFmpegError:
        return


@contextlib.contextmanager
def video_file(data: bytes, name: str) -> Iterator[Path]:
    """The uploaded video as a file in a private temporary directory, removed on exit.

    Refused before any frame is decoded: over ``MAX_VIDEO_MB``, longer than ``MAX_VIDEO_SECONDS`` or wider than
    ``MAX_VIDEO_SIDE`` by its header, and anything ``probe_video`` refuses (no video stream, truncated ...).
    """
    from ensemble.video_decode import probe_video

    suffix = video_suffix(name)
    _check_size(data, MAX_VIDEO_MB, "video")
    with tempfile.TemporaryDirectory(prefix="fer-dashboard-") as tmp:
        path = Path(tmp) / f"video.{suffix}"
        path.write_bytes(data)
        _check_video_header(path)
        try:
            info = probe_video(path, video_limits())
        except UserError as e:
            raise UploadError(str(e).removeprefix(f"{path}: ")) from None
        if info.duration > MAX_VIDEO_SECONDS:  # a header that declares no length: the packet scan measured it
            raise _too_long(info.duration)
        yield path
