"""The run directory of a trained branch: refusing to clobber or silently change a run, and writing
what an evaluation leaves in it (metrics.json, curves.png, reliability.png).

A run holds config.json, last.pt while training, history.json, and metrics.json once finished.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fer_core import atomic
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


def config_differences(saved: dict[str, Any], cfg: dict[str, Any], sections: Iterable[str]) -> list[str]:
    """One line per recipe field of ``sections`` that ``cfg`` sets differently from the ``saved`` recipe.

    Optional fields (e.g. ``train.ema_decay``) count when either side sets them: a command that drops one is
    as much a change as a command that adds one.
    """
    return [f"{s}.{k}: run has {saved[s].get(k)!r}, command gives {cfg[s].get(k)!r}"
            for s in sections for k in {**saved[s], **cfg[s]} if saved[s].get(k) != cfg[s].get(k)]


def refuse_changed_config(out: Path, diffs: list[str]) -> None:
    if diffs:
        raise UserError(f"{out}: --resume with a different config ({'; '.join(diffs[:3])}); use the original command")


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch history.json of a run ([] when it has none)."""
    path = run_dir / "history.json"
    return json.loads(path.read_text()) if path.is_file() else []


def write_evaluation(run_dir: Path, metrics: dict[str, Any], *, command: str, history: list[dict[str, Any]],
                     curves_title: str) -> dict[str, Any]:
    """Write metrics.json (recording the training ``command``), the training curves (when there is a
    history) and the reliability diagram; print the one-line summary to stderr."""
    from fer_core.plots import plot_history, plot_reliability
    from fer_core.report import format_summary

    metrics["command"] = command
    atomic.write_json(run_dir / "metrics.json", metrics)
    if history:
        plot_history(history, run_dir / "curves.png", title=curves_title)
    plot_reliability(metrics, run_dir / "reliability.png")
    print(format_summary(metrics), file=sys.stderr)
    return metrics
