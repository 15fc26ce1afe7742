"""Find and read run directories under a results root.

A run directory is any folder holding ``metrics.json`` (finished) or ``config.json`` / ``history.json``
(training or not yet evaluated). Other engineers' jobs write into the same tree while the dashboard
reads it, so nothing here raises on bad input: a corrupt or half-written file becomes one line in
``Results.problems`` and the run (or just that file's view) is skipped.

This module has no Streamlit dependency; ``dashboard.state`` adds the caching.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRICS_FILE, CONFIG_FILE, HISTORY_FILE = "metrics.json", "config.json", "history.json"
FUSION_FILE, ABLATION_FILE = "fusion.json", "ablation.json"
COMPARISON_FILE, CONFORMAL_FILE, CV_FILE = "comparison.json", "conformal.json", "cv.json"
# `fer ensemble ablate` / `conformal` / `fer audio cv` may write into a folder of their own, so their files mark
# a run too.
RUN_MARKERS = (METRICS_FILE, CONFIG_FILE, HISTORY_FILE, FUSION_FILE, ABLATION_FILE, CONFORMAL_FILE, CV_FILE)
WATCHED_FILES = (*RUN_MARKERS, COMPARISON_FILE, "best.pt")
PREDICTIONS_DIR = "predictions"
SKIP_DIRS = {PREDICTIONS_DIR, "__pycache__", "node_modules", "checkpoints"}
MAX_DEPTH = 6  # results/<dataset>/<group>/<run>/... is 3; deeper trees are not run layouts
MAX_JSON_BYTES = 64 * 2**20  # a metrics/history file is KBs; refuse to parse anything absurd

# metrics.json keys every producer writes (fer_core.report.build_metrics); a run without them is skipped.
METRICS_REQUIRED = ("split", "n", "accuracy", "macro_f1", "nll", "ece", "ece_uncalibrated", "temperature", "command")
_UNIT_INTERVAL = ("accuracy", "macro_f1", "ece")


@dataclass
class Run:
    """One run directory and whatever of it could be read."""

    id: str  # path relative to the results root, POSIX style (unique)
    path: Path
    metrics: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None
    fusion: dict[str, Any] | None = None
    ablation: list[dict[str, Any]] | None = None  # rows
    comparison: list[dict[str, Any]] | None = None  # rows
    tables_meta: dict[str, dict[str, Any]] = field(default_factory=dict)  # "ablation" -> its notes, command ...
    conformal: dict[str, Any] | None = None
    cv: dict[str, Any] | None = None  # cross-validation summary (fer audio cv)
    prediction_splits: tuple[str, ...] = ()
    has_checkpoint: bool = False

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    def _meta(self, key: str) -> Any:
        if self.metrics and self.metrics.get(key) is not None:
            return self.metrics[key]
        cfg = self.config or {}
        return cfg.get(key) if not isinstance(cfg.get(key), dict) else None

    def _config(self, *keys: str) -> Any:
        """A nested config.json value (None when any level is missing or not an object)."""
        v: Any = self.config
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    @property
    def dataset(self) -> str:
        return str(self._meta("dataset") or self._config("data", "dataset") or self.id.split("/")[0] or "unknown")

    @property
    def modality(self) -> str:
        if self.fusion is not None and not self._meta("modality"):
            return "fusion"
        return str(self._meta("modality") or "unknown")

    @property
    def branch(self) -> str:
        return str(self._meta("branch") or self.id)

    @property
    def backbone(self) -> str | None:
        b = self._meta("backbone") or self._config("config", "model", "backbone")
        return None if b is None else str(b)

    @property
    def recipe(self) -> str | None:
        r = self._meta("recipe") or self._config("config", "recipe")
        return None if r is None else str(r)

    @property
    def is_ensemble(self) -> bool:
        return self.fusion is not None or self.ablation is not None or self.modality == "fusion"


@dataclass
class Results:
    root: Path
    exists: bool
    runs: list[Run] = field(default_factory=list)  # finished and in-progress, sorted by id
    problems: list[str] = field(default_factory=list)  # "<run id>: <what went wrong>; <consequence>"

    @property
    def finished(self) -> list[Run]:
        return [r for r in self.runs if r.finished]

    @property
    def in_progress(self) -> list[Run]:
        """Runs training or being fit: config/history/fusion written, metrics.json not yet."""
        return [r for r in self.runs if not r.finished and (r.config or r.history is not None or r.fusion)]

    @property
    def with_history(self) -> list[Run]:
        return [r for r in self.runs if r.history]

    @property
    def ensembles(self) -> list[Run]:
        return [r for r in self.runs if r.is_ensemble]

    @property
    def with_conformal(self) -> list[Run]:
        return [r for r in self.runs if r.conformal is not None]

    @property
    def with_cv(self) -> list[Run]:
        return [r for r in self.runs if r.cv is not None]

    def get(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.id == run_id), None)


# ------------------------------------------------------------------------------------------ discovery
def run_dirs(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included) holding a run marker file, in sorted order."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
        here = Path(dirpath)
        depth = len(here.parts) - base_depth
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS and depth < MAX_DEPTH)
        if any(m in filenames for m in RUN_MARKERS):
            found.append(here)
    return sorted(found)


def fingerprint(root: str | Path) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime_ns, size) of every file the dashboard reads: a cheap cache key that changes when a
    job writes a new result, so fresh runs appear without restarting the server."""
    root = Path(root)
    out: list[tuple[str, int, int]] = []
    for d in run_dirs(root):
        candidates = [d / name for name in WATCHED_FILES]
        pred_dir = d / PREDICTIONS_DIR
        if pred_dir.is_dir():
            candidates += sorted(pred_dir.glob("*.json"))
        for p in candidates:
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


def run_id(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return root.resolve().name if rel == "." else rel


# ------------------------------------------------------------------------------------------- reading
def read_json(path: Path) -> tuple[Any, str | None]:
    """(value, None) or (None, one-line reason)."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            return None, f"{path.name} is {size / 2**20:.0f} MiB, larger than any result file should be"
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return None, f"{path.name} is unreadable ({e.__class__.__name__})"
    if not text.strip():
        return None, f"{path.name} is empty (still being written?)"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, f"{path.name} is not valid JSON (line {e.lineno}: {e.msg}; half-written?)"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def metrics_problem(m: Any) -> str | None:
    """Why a parsed metrics.json cannot be shown, or None."""
    if not isinstance(m, dict):
        return "metrics.json is not a JSON object"
    missing = [k for k in METRICS_REQUIRED if k not in m]
    if missing:
        return f"metrics.json lacks {', '.join(missing)}"
    for k in ("accuracy", "macro_f1", "nll", "ece", "temperature"):
        if not _is_number(m[k]):
            return f"metrics.json field {k!r} is {m[k]!r}, not a number"
    for k in _UNIT_INTERVAL:
        if not 0.0 <= m[k] <= 1.0:
            return f"metrics.json field {k!r} is {m[k]}, outside 0..1"
    if m["ece_uncalibrated"] is not None and not _is_number(m["ece_uncalibrated"]):
        return f"metrics.json field 'ece_uncalibrated' is {m['ece_uncalibrated']!r}, not a number or null"
    if not isinstance(m["n"], int) or m["n"] <= 0:
        return f"metrics.json field 'n' is {m['n']!r}, not a positive integer"
    return None


def history_problem(h: Any) -> str | None:
    if not isinstance(h, list) or not all(isinstance(e, dict) and _is_number(e.get("epoch")) for e in h):
        return "history.json is not a list of {epoch, ...} records"
    return None


def table_rows(name: str, v: Any) -> tuple[list[dict[str, Any]] | None, dict[str, Any], str | None]:
    """A results table as written by ``ensemble.tables.write_table`` ({"rows": [...], **meta}) or a bare list
    of rows -> (rows, meta, None) or (None, {}, reason)."""
    meta: dict[str, Any] = {}
    if isinstance(v, dict) and "rows" in v:
        meta = {k: val for k, val in v.items() if k != "rows"}
        v = v["rows"]
    if not isinstance(v, list) or not all(isinstance(r, dict) for r in v):
        return None, {}, f"{name} is not a list of rows"
    return v, meta, None


def load_run(root: Path, path: Path, problems: list[str]) -> Run | None:
    """Read one run directory; append a line to ``problems`` for each file that could not be used."""
    rid = run_id(root, path)
    run = Run(id=rid, path=path)
    if (path / METRICS_FILE).is_file():
        m, err = read_json(path / METRICS_FILE)
        err = err or metrics_problem(m)
        if err:
            problems.append(f"{rid}: {err}; run skipped")
            return None
        run.metrics = m
    if (path / CONFIG_FILE).is_file():
        cfg, err = read_json(path / CONFIG_FILE)
        if err or not isinstance(cfg, dict):
            problems.append(f"{rid}: {err or 'config.json is not a JSON object'}; configuration not shown")
        else:
            run.config = cfg
    if (path / HISTORY_FILE).is_file():
        h, err = read_json(path / HISTORY_FILE)
        err = err or history_problem(h)
        if err:
            problems.append(f"{rid}: {err}; training curves not shown")
        else:
            run.history = sorted(h, key=lambda e: e["epoch"])
    for attr, name in (("fusion", FUSION_FILE), ("conformal", CONFORMAL_FILE), ("cv", CV_FILE)):
        if (path / name).is_file():
            v, err = read_json(path / name)
            if err or not isinstance(v, dict):
                problems.append(f"{rid}: {err or name + ' is not a JSON object'}; not shown")
            else:
                setattr(run, attr, v)
    for attr, name in (("ablation", ABLATION_FILE), ("comparison", COMPARISON_FILE)):
        if (path / name).is_file():
            v, err = read_json(path / name)
            rows, meta, err = (None, {}, err) if err else table_rows(name, v)
            if err:
                problems.append(f"{rid}: {err}; not shown")
            else:
                setattr(run, attr, rows)
                run.tables_meta[attr] = meta
    pred_dir = path / PREDICTIONS_DIR
    if pred_dir.is_dir():
        run.prediction_splits = tuple(sorted(p.stem for p in pred_dir.glob("*.json") if not p.name.startswith(".")))
    run.has_checkpoint = (path / "best.pt").is_file()
    if all(v is None for v in (run.metrics, run.config, run.history, run.fusion, run.ablation, run.conformal, run.cv)):
        return None  # every marker file was corrupt: already reported
    return run


def load_results(root: str | Path) -> Results:
    """Every run under ``root``; never raises for bad files (see ``Results.problems``)."""
    root = Path(root).expanduser()
    res = Results(root=root, exists=root.is_dir())
    for d in run_dirs(root):
        run = load_run(root, d, res.problems)
        if run is not None:
            res.runs.append(run)
    return res


def split_metrics(run_path: str | Path, split: str) -> dict[str, Any]:
    """metrics.json-style dict for another split, computed from that split's predictions artifact.

    Raises ``fer_core.errors.ArtifactError`` (one line) when the artifact is unusable.
    """
    from fer_core.artifact import load_run as load_artifact
    from fer_core.errors import ArtifactError
    from fer_core.report import build_metrics

    preds = load_artifact(run_path, split)
    try:
        return build_metrics(preds)
    except ValueError as e:
        raise ArtifactError(str(e)) from None
