"""Readers for the three FER2013 layouts. Each returns decoded arrays or raises a one-line DataError."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

import numpy as np
from PIL import Image, UnidentifiedImageError

from fer_core.errors import DataError
from fer_core.labels import FER7, canonical_emotion
from fer_face.data.dataset import IMAGE_SIZE, SPLITS
from fer_face.faces import PHOTO_SUFFIXES, register_photo_formats, to_gray

CSV_COLUMNS = ("emotion", "pixels", "Usage")
PREFIX_RE = re.compile(r"^(Training|PublicTest|PrivateTest)_", re.IGNORECASE)
# Split folder spellings -> role. "test" is resolved below: PrivateTest when a validation folder exists,
# else it is split deterministically into PublicTest / PrivateTest.
SPLIT_DIRS = {
    "train": "Training", "training": "Training",
    "val": "PublicTest", "valid": "PublicTest", "validation": "PublicTest", "publictest": "PublicTest",
    "test": "test", "testing": "test", "privatetest": "PrivateTest",
}


@dataclass
class Decoded:
    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    splits: np.ndarray
    notes: list[str] = field(default_factory=list)


def _order(images: list, labels: list, ids: list, splits: list, notes: list[str]) -> Decoded:
    """Canonical order: split (Training, PublicTest, PrivateTest), then sample id."""
    for s in SPLITS:
        if s not in splits:
            raise DataError(f"split {s!r} is empty: the source holds no {s} images")
    rank = {s: i for i, s in enumerate(SPLITS)}
    order = sorted(range(len(ids)), key=lambda i: (rank[splits[i]], ids[i]))
    return Decoded(
        images=np.stack([images[i] for i in order]).astype(np.uint8),
        labels=np.asarray([labels[i] for i in order], np.int64),
        ids=np.asarray([ids[i] for i in order], dtype=str),
        splits=np.asarray([splits[i] for i in order], dtype=str),
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------- CSV
def read_csv(path: Path) -> Decoded:
    csv.field_size_limit(sys.maxsize)
    images, labels, ids, splits = [], [], [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {', '.join(missing)}; a FER2013 CSV has the header 'emotion,pixels,Usage'"
            )
        n_pixels = IMAGE_SIZE * IMAGE_SIZE
        for row_no, row in enumerate(reader, start=2):  # row 1 is the header
            where = f"{path} row {row_no}"
            try:
                emotion = int(row["emotion"])
            except (TypeError, ValueError):
                raise DataError(f"{where}: emotion {row['emotion']!r} is not an integer 0-6") from None
            if not 0 <= emotion < len(FER7):
                raise DataError(f"{where}: emotion {emotion} is outside 0-6")
            usage = (row["Usage"] or "").strip()
            split = {s.lower(): s for s in SPLITS}.get(usage.lower())
            if split is None:
                raise DataError(f"{where}: Usage {usage!r} is not one of {', '.join(SPLITS)}")
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except (AttributeError, ValueError):
                raise DataError(f"{where}: field 'pixels' holds non-numeric values") from None
            if pixels.size != n_pixels:
                raise DataError(f"{where}: field 'pixels' has {pixels.size} values, expected {n_pixels} (48x48)")
            if pixels.min() < 0 or pixels.max() > 255:
                raise DataError(f"{where}: field 'pixels' has values outside 0-255")
            images.append(pixels.reshape(IMAGE_SIZE, IMAGE_SIZE).astype(np.uint8))
            labels.append(emotion)
            ids.append(f"csv-row-{row_no - 1:05d}")
            splits.append(split)
    if not images:
        raise DataError(f"{path}: the CSV has a header but no rows")
    return _order(images, labels, ids, splits, [])


# ------------------------------------------------------------------------------------ image folders
@dataclass
class _Entry:
    split_dir: str  # role from SPLIT_DIRS ("test" still unresolved)
    label: int
    name: str  # file name -> sample id
    where: str  # for messages
    rel: str  # <split>/<class>/<file>: the id when file names collide


def classify(parts: tuple[str, ...], where: str) -> _Entry | None:
    """Map .../<split>/<class>/<file> to an entry; None for files outside such a structure."""
    if len(parts) < 3 or PurePosixPath(parts[-1]).suffix.lower() not in PHOTO_SUFFIXES:
        return None
    if parts[-1].startswith(".") or "__MACOSX" in parts:
        return None
    split_dir = SPLIT_DIRS.get(parts[-3].lower())
    if split_dir is None:
        return None
    emotion = canonical_emotion(parts[-2])
    if emotion is None:
        raise DataError(
            f"{where}: unknown class folder {parts[-2]!r}; expected one of {', '.join(FER7)} (or a known spelling)"
        )
    return _Entry(split_dir, FER7.index(emotion), parts[-1], where, "/".join(parts[-3:]))


def _decode(data: bytes | Path, where: str, strict_size: bool, resized: list[str]) -> np.ndarray:
    register_photo_formats()
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
            im = Image.fromarray(to_gray(im))  # 16-bit and float images scaled, transparency on white
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                if strict_size:
                    raise DataError(
                        f"{where}: image is {im.size[0]}x{im.size[1]}, not 48x48 (drop --strict-size to resize)"
                    )
                resized.append(where)
                im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{where}: corrupt or unreadable image ({e.__class__.__name__}); remove or replace it") from None


def _resolve_splits(entries: list[_Entry], notes: list[str]) -> list[str]:
    """Split per entry: the file-name prefix wins; else the folder role; un-prefixed test/ is split."""
    have_validation = any(e.split_dir == "PublicTest" for e in entries)
    out: list[str | None] = []
    unresolved: list[int] = []
    for i, e in enumerate(entries):
        m = PREFIX_RE.match(e.name)
        if m:
            out.append({s.lower(): s for s in SPLITS}[m.group(1).lower()])
        elif e.split_dir == "test":
            if have_validation:
                out.append("PrivateTest")
            else:
                out.append(None)
                unresolved.append(i)
        else:
            out.append(e.split_dir)
    if unresolved:
        # Deterministic, class-stratified halves: sort each class by name, alternate after a seeded shuffle.
        rng = np.random.default_rng(20131)
        for label in range(len(FER7)):
            members = sorted((i for i in unresolved if entries[i].label == label), key=lambda i: entries[i].name)
            perm = rng.permutation(len(members))
            for rank, j in enumerate(perm):
                out[members[j]] = "PublicTest" if rank % 2 == 0 else "PrivateTest"
        notes.append(
            f"{len(unresolved)} test/ images carry no Training_/PublicTest_/PrivateTest_ prefix: split them "
            "deterministically (seed 20131, stratified by class) into PublicTest (validation) and PrivateTest (test)"
        )
    return out  # type: ignore[return-value]


def _assemble(
    entries: list[_Entry], fetch: Callable[[_Entry], bytes | Path], strict_size: bool, source: str,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> Decoded:
    if not entries:
        raise DataError(
            f"{source}: no images in a <split>/<class>/ layout (expected e.g. train/angry/*.jpg and test/angry/*.jpg)"
        )
    notes: list[str] = []
    splits = _resolve_splits(entries, notes)
    names = [e.name for e in entries]
    # Sample id = file name (it keeps the original Usage prefix); the rare names that occur twice
    # (FER2013's Kaggle tree has 2) fall back to <split>/<class>/<file> so ids stay unique and stable.
    seen = Counter(names)
    ids = [e.name if seen[e.name] == 1 else e.rel for e in entries]
    resized: list[str] = []
    iterator = progress(entries) if progress else entries
    images = [_decode(fetch(e), e.where, strict_size, resized) for e in iterator]
    if resized:
        notes.append(f"resized {len(resized)} image(s) that were not 48x48 to 48x48 (first: {resized[0]})")
    return _order(images, [e.label for e in entries], ids, splits, notes)


def read_folder(root: Path, strict_size: bool = False, progress=None) -> Decoded:
    entries = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = p.relative_to(root).parts
            e = classify(rel, f"{root}:{'/'.join(rel)}")
            if e is not None:
                e.where = str(p)
                entries.append(e)
    by_path = {e.where: Path(e.where) for e in entries}
    return _assemble(entries, lambda e: by_path[e.where], strict_size, str(root), progress)


def read_zip(path: Path, strict_size: bool = False, progress=None) -> Decoded:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: not a readable zip archive ({e})") from None
    with zf:
        entries = []
        members = {}
        for info in zf.infolist():
            if info.is_dir():
                continue
            where = f"{path}:{info.filename}"
            e = classify(PurePosixPath(info.filename).parts, where)
            if e is not None:
                entries.append(e)
                members[where] = info

        def fetch(e: _Entry) -> bytes:
            try:
                return zf.read(members[e.where])
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as err:
                raise DataError(f"{e.where}: cannot read from the archive ({err})") from None

        return _assemble(entries, fetch, strict_size, str(path), progress)
