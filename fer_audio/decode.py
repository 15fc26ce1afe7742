"""Decode one audio clip to mono float32 at the model's sample rate, or refuse it with one clear line.

Every entry point (dataset reader, ``fer audio predict``, paired manifests, the dashboard) goes
through :func:`decode_clip`, so a bad clip is described the same way everywhere. Containers are read
by libsndfile (``soundfile``) only: no fallback decoder that might half-understand a file.
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

SUPPORTED_SUFFIXES = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".aif": "AIFF", ".aiff": "AIFF"}
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
