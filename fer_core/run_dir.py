"""The run directory of a trained branch: refusing to clobber or silently change a run (what an evaluation
leaves in it is written by ``fer_core.evaluate``).

A run holds config.json, last.pt while training, history.json, and metrics.json once finished.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fer_core.errors import UserError


def remove_run_files(out: Path, names: Iterable[str]) -> None:
    """Delete these files/folders of a run (``--overwrite``); the directory itself stays."""
    for name in names:
        p = out / name
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)


def saved_config_to_resume(out: Path, resume: bool) -> dict[str, Any] | None:
    """Refuse to start over a run already in ``out``; with ``resume``, its config.json, else None."""
    if resume:
        if not (out / "last.pt").is_file():
            raise UserError(f"{out}: nothing to resume (no last.pt); drop --resume to start a new run")
        return json.loads((out / "config.json").read_text())
    if (out / "metrics.json").is_file():
        raise UserError(f"{out}: holds a finished run (metrics.json); pass --overwrite to replace it or choose another --out")
    if (out / "last.pt").is_file():
        raise UserError(f"{out}: holds an unfinished run; pass --resume to continue it or --overwrite to restart")
    return None


# Fit after the last epoch from the saved logits (as fer recalibrate does): a resumed run may choose another.
SET_AFTER_TRAINING = {("eval", "calibration")}


def config_differences(saved: dict[str, Any], cfg: dict[str, Any], sections: Iterable[str]) -> list[str]:
    """One line per recipe field of ``sections`` that ``cfg`` sets differently from the ``saved`` recipe, leaving
    out ``SET_AFTER_TRAINING``.

    Optional fields (e.g. ``train.ema_decay``) count when either side sets them: a command that drops one is
    as much a change as a command that adds one.
    """
    return [f"{s}.{k}: run has {saved[s].get(k)!r}, command gives {cfg[s].get(k)!r}"
            for s in sections for k in {**saved[s], **cfg[s]}
            if (s, k) not in SET_AFTER_TRAINING and saved[s].get(k) != cfg[s].get(k)]


def refuse_changed_config(out: Path, diffs: list[str]) -> None:
    if diffs:
        raise UserError(f"{out}: --resume with a different config ({'; '.join(diffs[:3])}); use the original command")


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch history.json of a run ([] when it has none)."""
    path = run_dir / "history.json"
    return json.loads(path.read_text()) if path.is_file() else []
