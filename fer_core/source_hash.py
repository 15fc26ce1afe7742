"""Content keys for dataset sources, so a decode-once cache is rebuilt whenever its source changes."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path


def content_key(path: Path, kind: str, salt: str) -> str:
    """sha256 hex digest of ``salt`` and the source's content.

    ``kind``: ``"zip"`` hashes every member's name, size and CRC-32 from the central directory (no
    decompression); ``"file"`` hashes the file's bytes; ``"folder"`` hashes relative paths, sizes and
    modification times (reading every image would cost as much as decoding them).
    """
    h = hashlib.sha256(salt.encode())
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                h.update(f"{info.filename}|{info.file_size}|{info.CRC}\n".encode())
    elif kind == "file":
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    elif kind == "folder":
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(path).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    else:
        raise ValueError(f"unknown source kind {kind!r}")
    return h.hexdigest()
