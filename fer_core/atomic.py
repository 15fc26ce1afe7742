"""Write files atomically (temp file in the same directory + rename): a killed writer never
leaves a half-written file that a later reader would trust."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from fer_core.errors import UserError


def check_target(path: str | os.PathLike) -> None:
    """Refuse, before any work, a target ``atomic_path`` could not write: a folder, or a place under a file."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file name")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UserError(f"{path}: cannot write there ({parent} is a file); choose another path")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``. A target that cannot be
    written (a folder, no permission, a read-only disk) is a one-line UserError naming it."""
    path = Path(path)
    check_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    except OSError as e:
        raise UserError(f"{path}: cannot write there ({e.strerror or e}); choose another path") from None
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; published results should be readable
    try:
        yield tmp_path
        try:
            os.replace(tmp_path, path)
        except OSError as e:
            raise UserError(f"{path}: cannot write there ({e.strerror or e}); choose another path") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
