"""``load_ravdess``: read RAVDESS from a zip or a folder, decode once, cache, return a RavdessData.

Any clip format of :mod:`fer_audio.decode` (FLAC, WAV, ...) at any sample rate is accepted; clips are
mixed to mono and resampled to the model's rate. The decoded clips are cached as one int16 .npz keyed
by the source's contents (zip: member names, sizes, CRC-32s; folder: relative paths, sizes, mtimes)
and the sample rate, written atomically, so a second load costs a fraction of a second.
"""

from __future__ import annotations

import os
import sys
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from fer_core.atomic import atomic_path
from fer_core.errors import DataError
from fer_core.source_hash import content_key
from fer_audio.dataset import RavdessData, to_int16
from fer_audio.decode import SUPPORTED_SUFFIXES, decode_bytes
from fer_audio.labels import RavdessName, parse_name
from fer_audio.synthetic import make_synthetic

CACHE_VERSION = 1
SYNTHETIC = "synthetic"
DEFAULT_FILE = "ravdess-speech-16k.zip"
MISSING_HELP = (
    "no RAVDESS found in {where}/: download the RAVDESS speech audio (Audio_Speech_Actors_01-24.zip, zenodo.org "
    "record 1188976), put the zip in {where}/ as {default} (or pass --data PATH to the zip or its extracted folder); "
    "--data synthetic runs on generated tones"
)


# ------------------------------------------------------------------------------------------ reading
def data_root() -> Path:
    return Path(os.environ.get("FER_DATA_ROOT") or "data")


def resolve_source(arg: str | None) -> str:
    if arg:
        return arg
    root = data_root()
    for c in [root / DEFAULT_FILE, *sorted(root.glob("*ravdess*.zip")), *sorted(root.glob("Audio_Speech_Actors*"))]:
        if c.exists():
            return str(c)
    raise DataError(MISSING_HELP.format(where=root, default=DEFAULT_FILE))


def _members(src: Path, layout: str) -> tuple[list[tuple[str, RavdessName]], list[str]]:
    """(member path, parsed name) of every speech clip, plus notes on what was skipped."""
    if layout == "zip":
        with zipfile.ZipFile(src) as zf:
            paths = [i.filename for i in zf.infolist() if not i.is_dir()]
    else:
        paths = [p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()]
    found, skipped_song, foreign = [], 0, 0
    for p in sorted(paths):
        pp = PurePosixPath(p)
        if pp.suffix.lower() not in SUPPORTED_SUFFIXES or pp.name.startswith(".") or "__MACOSX" in pp.parts:
            continue
        try:
            parsed = parse_name(pp.name)
        except DataError:
            foreign += 1
            continue
        if parsed.vocal_channel != "speech":
            skipped_song += 1
            continue
        found.append((p, parsed))
    notes = []
    if skipped_song:
        notes.append(f"skipped {skipped_song} song clip(s) (vocal channel 02): this branch models speech")
    if foreign:
        notes.append(f"skipped {foreign} audio file(s) whose names are not RAVDESS MM-VV-EE-II-SS-RR-AA")
    stems = [n.stem for _, n in found]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise DataError(f"{src}: clip {dup} occurs more than once (e.g. both .wav and .flac); keep one copy")
    if not found:
        raise DataError(f"{src}: no RAVDESS speech clips (expected files like Actor_01/03-01-05-01-01-01-01.wav)")
    return found, notes


def source_key(src: Path, layout: str, sample_rate: int) -> str:
    return content_key(src, "zip" if layout == "zip" else "folder", f"ravdess-v{CACHE_VERSION}|{layout}|sr={sample_rate}|")


def cache_dir() -> Path:
    root = os.environ.get("FER_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fer-fusion"
    return Path(root)


def _load_cache(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("audio", "offsets", "members", "notes")}
        if len(out["offsets"]) != len(out["members"]) + 1 or out["offsets"][-1] != len(out["audio"]):
            return None
        return out
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # a broken cache is rebuilt, never trusted


def _save_cache(path: Path, audio, offsets, members, notes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, audio=audio, offsets=offsets, members=np.asarray(members, dtype=str),
                     notes=np.asarray(notes, dtype=str))


def _decode_all(src: Path, layout: str, members, sample_rate: int, progress: bool):
    from tqdm.auto import tqdm

    clips = []
    zf = zipfile.ZipFile(src) if layout == "zip" else None
    try:
        for path, _ in tqdm(members, desc=f"decoding {src.name}", unit="clip", disable=not progress,
                            mininterval=0.5, file=sys.stderr):
            where = f"{src}:{path}" if zf else str(src / path)
            try:
                raw = zf.read(path) if zf else (src / path).read_bytes()
            except (OSError, zipfile.BadZipFile, zlib.error) as e:
                raise DataError(f"{where}: cannot read ({e.__class__.__name__}: {e})") from None
            clips.append(to_int16(decode_bytes(raw, where, sample_rate)))
    finally:
        if zf:
            zf.close()
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])]).astype(np.int64)
    return np.concatenate(clips), offsets


def load_ravdess(path: str | os.PathLike | None = None, *, sample_rate: int = 16000, use_cache: bool = True,
                 progress: bool = False, seed: int = 0) -> RavdessData:
    """RAVDESS speech from a zip, a folder or ``"synthetic"``; clips mono at ``sample_rate``."""
    spec = resolve_source(None if path is None else str(path))
    if spec == SYNTHETIC:
        return make_synthetic(seed=seed, sample_rate=sample_rate)
    src = Path(spec)
    if not src.exists():
        raise DataError(f"{src}: no such file or directory; pass --data with the RAVDESS zip or folder")
    if src.is_dir():
        layout = "folder"
    elif zipfile.is_zipfile(src):
        layout = "zip"
    else:
        raise DataError(f"{src}: not a RAVDESS source; expected a .zip of Actor_NN/ folders or such a folder")
    try:
        members, notes = _members(src, layout)
        key = source_key(src, layout, sample_rate) if use_cache else None
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{src}: cannot read ({e})") from None
    cache_file = cache_dir() / f"ravdess-{layout}-{key[:20]}-{sample_rate}.npz" if key else None
    hit = _load_cache(cache_file) if cache_file else None
    if hit is not None and list(hit["members"]) == [m for m, _ in members]:
        audio, offsets = hit["audio"], hit["offsets"]
    else:
        audio, offsets = _decode_all(src, layout, members, sample_rate, progress)
        if cache_file is not None:
            try:
                _save_cache(cache_file, audio, offsets, [m for m, _ in members], notes)
            except OSError as e:
                print(f"warning: could not write the audio cache {cache_file} ({e}); continuing", file=sys.stderr)
                cache_file = None
    names = [n for _, n in members]
    order = sorted(range(len(names)), key=lambda i: (names[i].actor, names[i].stem))
    if order != list(range(len(names))):
        clips = [audio[offsets[i]:offsets[i + 1]] for i in order]
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])]).astype(np.int64)
        audio, names = np.concatenate(clips), [names[i] for i in order]
    return RavdessData(audio=audio, offsets=offsets, names=names, sample_rate=sample_rate, source=str(src),
                       layout=layout, notes=notes, cache_path=None if cache_file is None else str(cache_file))
