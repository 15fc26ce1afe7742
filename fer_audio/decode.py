"""Decode one audio clip to mono float32 at the model's sample rate, or refuse it with one clear line.

Every entry point (dataset reader, ``fer audio predict``, paired manifests, the dashboard) goes
through :func:`decode_clip`, so a bad clip is described the same way everywhere. Each container has one
decoder, chosen by its suffix, with no fallback that might half-understand a file: libsndfile (``soundfile``)
for WAV, FLAC, Ogg (Vorbis, Opus), AIFF and MP3; FFmpeg (PyAV) for what phones and browsers record: M4A/AAC
(voice memos), WebM (a browser's MediaRecorder) and AMR.
Resampling is soxr's high-quality mode, the resampler behind ``librosa.resample(res_type="soxr_hq")``,
called directly (importing librosa JIT-compiles numba code, seconds of CPU per process); a 48 kHz and
a 16 kHz copy of a recording yield near-identical model inputs.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np

from fer_core.errors import DataError

SOUNDFILE_SUFFIXES = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".opus": "OGG", ".aif": "AIFF",
                      ".aiff": "AIFF", ".mp3": "MP3"}
FFMPEG_SUFFIXES = {".m4a": "M4A", ".aac": "AAC", ".webm": "WebM", ".weba": "WebM", ".amr": "AMR"}
SUPPORTED_SUFFIXES = {**SOUNDFILE_SUFFIXES, **FFMPEG_SUFFIXES}
# A declared length is trusted to within this much before a compressed file counts as truncated.
TRUNCATION_SLACK_S, TRUNCATION_SLACK_FRACTION = 0.5, 0.02
MIN_SECONDS = 0.3
SILENCE_PEAK_DBFS = -60.0  # a clip with no sample louder than this is "silent"
MAX_BYTES = 256 * 1024 * 1024  # refuse absurdly large clips instead of exhausting memory
CONVERT_HINT = "convert it to WAV or FLAC (e.g. ffmpeg -i IN -ac 1 -ar 16000 OUT.wav)"


def _check_container(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise DataError(f"{name}: unsupported audio container {suffix or '(no extension)'!r} "
                        f"(supported: {supported}); {CONVERT_HINT}")
    return SUPPORTED_SUFFIXES[suffix]


def _wav_truncated(raw: bytes) -> str | None:
    """libsndfile silently shortens a truncated WAV; compare the declared data size with the bytes present."""
    if len(raw) < 12 or raw[:4] not in (b"RIFF", b"RIFX") or raw[8:12] != b"WAVE":
        return None
    endian = "<" if raw[:4] == b"RIFF" else ">"
    pos = 12
    while pos + 8 <= len(raw):
        chunk, size = raw[pos:pos + 4], struct.unpack(endian + "I", raw[pos + 4:pos + 8])[0]
        if chunk == b"data":
            if size in (0, 0xFFFFFFFF):  # streaming writers leave the size open
                return None
            have = len(raw) - pos - 8
            return f"declares {size} bytes of samples but holds {have}" if have < size else None
        pos += 8 + size + (size & 1)
    return "has no data chunk"


def read_samples(raw: bytes, name: str) -> tuple[np.ndarray, int]:
    """Container bytes -> ((frames, channels) float32, sample rate), checked; ``name`` is for messages."""
    import soundfile as sf

    container = _check_container(name)
    if len(raw) > MAX_BYTES:
        raise DataError(f"{name}: {len(raw) / 2**20:.0f} MiB is too large for one clip (limit {MAX_BYTES // 2**20} MiB)")
    if container in FFMPEG_SUFFIXES.values():
        return _read_with_ffmpeg(raw, name, container)
    if container == "WAV":
        problem = _wav_truncated(raw)
        if problem:
            raise DataError(f"{name}: truncated or corrupt WAV file ({problem}); re-export or re-download it")
    try:
        with sf.SoundFile(io.BytesIO(raw)) as f:
            declared, sr = f.frames, f.samplerate
            samples = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        detail = str(e).split(":")[-1].strip() or e.__class__.__name__
        raise DataError(f"{name}: corrupt, truncated or not a {container} file ({detail}); {CONVERT_HINT}") from None
    if len(samples) < declared:
        raise DataError(f"{name}: truncated {container} file (header says {declared} frames, decoded {len(samples)})")
    return samples, int(sr)


def _read_with_ffmpeg(raw: bytes, name: str, container: str) -> tuple[np.ndarray, int]:
    """The first audio stream of a compressed container, decoded by FFmpeg (PyAV) to (frames, channels) float32."""
    import av

    broken = f"{name}: corrupt, truncated or unreadable {container} file"
    try:
        with av.open(io.BytesIO(raw), metadata_errors="ignore") as source:
            if not source.streams.audio:
                raise DataError(f"{name}: no audio stream in this {container} file; {CONVERT_HINT}")
            stream = source.streams.audio[0]
            rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
            declared = source.duration / av.time_base if source.duration else None
            packed = av.AudioResampler(format="flt", layout="mono" if channels == 1 else "stereo")
            chunks = [f.to_ndarray().reshape(-1) for frame in source.decode(stream) for f in packed.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in packed.resample(None)]
    except av.error.FFmpegError as e:
        detail = getattr(e, "strerror", None) or e.__class__.__name__
        raise DataError(f"{broken} ({detail}); {CONVERT_HINT}") from None
    samples = np.concatenate(chunks).reshape(-1, min(channels, 2)) if chunks else np.zeros((0, 1), np.float32)
    if not rate or not len(samples):
        raise DataError(f"{broken} (no audio decoded); {CONVERT_HINT}")
    decoded = len(samples) / rate
    if declared is not None and declared - decoded > max(TRUNCATION_SLACK_S, TRUNCATION_SLACK_FRACTION * declared):
        raise DataError(f"{name}: truncated {container} file (the header declares {declared:.1f} s, "
                        f"{decoded:.1f} s decoded); re-export or re-download it")
    return samples, int(rate)


def clip_seconds(path: str | Path) -> float:
    """A clip's length from its header alone (nothing decoded); a one-line DataError when it has none."""
    path = Path(path)
    container = _check_container(str(path))
    if container in FFMPEG_SUFFIXES.values():
        import av

        try:
            with av.open(str(path), metadata_errors="ignore") as source:
                if not source.streams.audio or not source.duration:
                    raise DataError(f"{path}: no audio of known length in this {container} file; {CONVERT_HINT}")
                return source.duration / av.time_base
        except av.error.FFmpegError as e:
            detail = getattr(e, "strerror", None) or e.__class__.__name__
            raise DataError(f"{path}: corrupt, truncated or unreadable {container} file ({detail})") from None
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile raises its own error types for unreadable data
        raise DataError(f"{path}: corrupt, truncated or unreadable {container} file ({e.__class__.__name__})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise DataError(f"{path}: the clip holds no samples")
    return info.frames / info.samplerate


def check_samples(samples: np.ndarray, sr: int, name: str) -> None:
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise DataError(f"{name}: {bad} sample(s) are NaN or infinite; the recording is corrupt, re-export it")
    seconds = len(samples) / sr if sr > 0 else 0.0
    if seconds < MIN_SECONDS:
        raise DataError(f"{name}: clip is {seconds:.2f} s long, shorter than the {MIN_SECONDS} s minimum")
    peak = float(np.abs(samples).max())
    if peak <= 10 ** (SILENCE_PEAK_DBFS / 20):
        level = "all zeros" if peak == 0 else f"peak {20 * np.log10(peak):.0f} dBFS"
        raise DataError(f"{name}: silent clip ({level}, nothing above {SILENCE_PEAK_DBFS:.0f} dBFS); nothing to classify")


def to_mono_at(samples: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """(frames, channels) -> mono (channel mean) float32 at ``target_sr``."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if sr != target_sr:
        import soxr

        mono = soxr.resample(mono, sr, target_sr, quality="HQ").astype(np.float32)
    return mono


def decode_bytes(raw: bytes, name: str, target_sr: int) -> np.ndarray:
    samples, sr = read_samples(raw, name)
    check_samples(samples, sr, name)
    return to_mono_at(samples, sr, target_sr)


def decode_clip(path: str | Path, target_sr: int) -> np.ndarray:
    """A clip file -> mono float32 at ``target_sr``; a one-line DataError naming the file when it is unusable."""
    path = Path(path)
    _check_container(str(path))
    if not path.is_file():
        raise DataError(f"{path}: audio file not found")
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"{path}: too large for one clip (limit {MAX_BYTES // 2**20} MiB)")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return decode_bytes(raw, str(path), target_sr)
