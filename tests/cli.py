"""``fer ARGS`` run inside the test process: torch, timm and dlib are imported once per pytest run instead of once
per command (seconds each), with the command's exit status, stdout and stderr captured as a subprocess's would be.

Tests that need a separate interpreter (an environment without PATH, a plug-in on PYTHONPATH, several processes)
keep ``subprocess``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from fer_core.cli import main


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``extra`` set, restored afterwards."""
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update({key: str(value) for key, value in extra.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def working_folder(path: str | Path | None) -> Iterator[None]:
    """The working folder set to ``path`` (None: unchanged), restored afterwards (``contextlib.chdir`` is 3.11+)."""
    before = os.getcwd()
    if path is not None:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def exit_status(code: object) -> int:
    """The status a process exiting through ``SystemExit(code)`` reports."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def fer(*args: object, env: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> Completed:
    """``fer ARGS`` in this process, with ``env`` added to the environment and ``cwd`` as working folder."""
    stdout, stderr = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()  # a command may set its own (landmark training runs on one)
    with environment(env or {}), working_folder(cwd), \
            contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's usage errors
            code = exit_status(e.code)
    torch.set_num_threads(threads)
    return Completed(code, stdout.getvalue(), stderr.getvalue())
