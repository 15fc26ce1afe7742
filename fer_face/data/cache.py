"""Decode once: the decoded dataset is cached in one .npz keyed by the source's content hash.

Key per layout: zip -> the archive's central directory (member names, sizes and CRC-32s, i.e. a
content hash of every member, read without decompressing); csv -> SHA-256 of the file; folder ->
relative paths, sizes and modification times of the image files (hashing every image would cost as
much as decoding it). The cache is written atomically, so a killed first load leaves no cache.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from fer_core.atomic import atomic_path
from fer_core.source_hash import content_key

CACHE_VERSION = 2


def cache_dir() -> Path:
    root = os.environ.get("FER_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fer-fusion"
    return Path(root)


def source_key(path: Path, layout: str, strict_size: bool) -> str:
    kind = {"zip": "zip", "csv": "file", "folder": "folder"}[layout]
    return content_key(path, kind, f"v{CACHE_VERSION}|{layout}|strict={strict_size}|")


def cache_path_for(key: str, layout: str) -> Path:
    return cache_dir() / f"fer2013-{layout}-{key[:20]}.npz"


def load(path: Path) -> dict | None:
    """The cached arrays, or None if absent or unreadable (a broken cache is rebuilt, never trusted)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("images", "labels", "ids", "splits")}
            out["notes"] = json.loads(str(z["notes"]))
        if not (len(out["images"]) == len(out["labels"]) == len(out["ids"]) == len(out["splits"])):
            return None
        return out
    except (OSError, ValueError, KeyError, EOFError, json.JSONDecodeError, zipfile.BadZipFile):
        return None


def save(path: Path, images, labels, ids, splits, notes: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels, ids=ids, splits=splits, notes=np.asarray(json.dumps(notes)))
