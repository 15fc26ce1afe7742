"""Find and read run directories under a results root.

A run directory is any folder holding ``metrics.json`` (finished) or ``config.json`` / ``history.json``
(training or not yet evaluated). Other engineers' jobs write into the same tree while the dashboard
reads it, so nothing here raises on bad input: a corrupt or half-written file becomes one line in
``Results.problems`` and the run (or just that file's view) is skipped.

``index.csv`` at the results root (written by ``fer results index``) names the published runs, one row each;
the pages list those by default and open on the best of them. Without it every run counts.

This module has no Streamlit dependency; ``dashboard.state`` adds the caching.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from fer_core.artifact import artifact_path, splits_in, load_run as load_predictions
from fer_core.errors import ArtifactError

METRICS_FILE, CONFIG_FILE, HISTORY_FILE = "metrics.json", "config.json", "history.json"
FUSION_FILE, ABLATION_FILE = "fusion.json", "ablation.json"
COMPARISON_FILE, CONFORMAL_FILE, CV_FILE = "comparison.json", "conformal.json", "cv.json"
PAPER_TABLE_FILE, PAPER_FIGURE_FILE = "paper-table.json", "paper-figure6.png"  # fer face compare --improved-runs
# `fer ensemble ablate` / `conformal` / `fer audio cv` may write into a folder of their own, so their files mark
# a run too.
RUN_MARKERS = (METRICS_FILE, CONFIG_FILE, HISTORY_FILE, FUSION_FILE, ABLATION_FILE, CONFORMAL_FILE, CV_FILE,
               PAPER_TABLE_FILE)
WATCHED_FILES = (*RUN_MARKERS, COMPARISON_FILE, PAPER_FIGURE_FILE, "best.pt")
PREDICTIONS_DIR = "predictions"
SKIP_DIRS = {PREDICTIONS_DIR, "__pycache__", "node_modules", "checkpoints"}
MAX_DEPTH = 6  # results/<dataset>/<group>/<run>/... is 3; deeper trees are not run layouts
MAX_JSON_BYTES = 64 * 2**20  # a metrics/history file is KBs; refuse to parse anything absurd

INDEX_FILE = "index.csv"
INDEX_COLUMNS = ("name", "kind", "dataset", "folder", "accuracy", "macro_f1", "nll", "ece", "ece_perfect_p05",
                 "ece_perfect_p95", "epochs", "train_minutes", "recipe", "command", "shipped")
INDEX_KINDS = ("face", "landmarks", "speech", "fusion", "cv")
MODEL_KINDS = ("face", "landmarks", "speech")
# The paper's benchmark: "best" is taken per dataset (accuracies over different label spaces do not compare), and
# a page that shows one run opens on FER2013's.
PRIMARY_DATASET = "fer2013"
# index.csv and metrics.json may round differently; a larger gap means the index is older than the run.
INDEX_ACCURACY_TOLERANCE = 5e-4

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
    paper_table: list[dict[str, Any]] | None = None  # rows: backbone, paper, paper_protocol, improved
    paper_figure: Path | None = None  # Figure 6 redrawn (training loss per epoch)
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


@dataclass(frozen=True)
class IndexEntry:
    """One published model or fusion: a row of index.csv."""

    name: str
    kind: str  # one of INDEX_KINDS
    dataset: str
    folder: str  # run directory relative to the results root, POSIX style (a run id)
    accuracy: float  # test accuracy (FER2013: PrivateTest), 0..1
    shipped: bool
    row: dict[str, str] = field(default_factory=dict, compare=False)  # every column as written


@dataclass
class Results:
    root: Path
    exists: bool
    runs: list[Run] = field(default_factory=list)  # finished and in-progress, sorted by id
    problems: list[str] = field(default_factory=list)  # "<run id>: <what went wrong>; <consequence>"
    index: list[IndexEntry] | None = None  # published entries (index.csv), None when there is no usable index

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

    @property
    def with_paper_table(self) -> list[Run]:
        return [r for r in self.runs if r.paper_table]

    def get(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def entry(self, run_id: str) -> IndexEntry | None:
        """The index row publishing ``run_id``, or None (unpublished, or no index)."""
        return next((e for e in self.index or [] if e.folder == run_id), None)

    def listed(self, runs: Iterable[Run], unpublished: bool = False) -> list[Run]:
        """``runs`` that are published, or all of them when ``unpublished`` or when there is no index."""
        if self.index is None or unpublished:
            return list(runs)
        return [r for r in runs if self.entry(r.id) is not None]

    def test_accuracy(self, entry: IndexEntry) -> float:
        """The run's own metrics.json accuracy when it is loaded and finished, else the index's."""
        run = self.get(entry.folder)
        return float(run.metrics["accuracy"]) if run is not None and run.finished else entry.accuracy

    def best_published(self, kinds: Iterable[str], where: Callable[[Run], bool] | None = None) -> list[Run]:
        """Per dataset (FER2013 first, then by name), the published run of one of ``kinds`` with the highest test
        accuracy among those ``where`` accepts (first in the index on ties). Empty without an index."""
        kinds = set(kinds)
        best: dict[str, tuple[float, Run]] = {}
        for e in self.index or []:
            run = self.get(e.folder)
            if e.kind not in kinds or run is None or (where is not None and not where(run)):
                continue
            acc = self.test_accuracy(e)
            if e.dataset not in best or acc > best[e.dataset][0]:
                best[e.dataset] = (acc, run)
        return [best[d][1] for d in sorted(best, key=lambda d: (d != PRIMARY_DATASET, d))]


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
    try:
        st = (root / INDEX_FILE).stat()
        out.append((str(root / INDEX_FILE), st.st_mtime_ns, st.st_size))
    except OSError:
        pass
    for d in run_dirs(root):
        candidates = [d / name for name in WATCHED_FILES]
        candidates += [artifact_path(d, split) for split in splits_in(d)]
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
    for attr, name in (("ablation", ABLATION_FILE), ("comparison", COMPARISON_FILE), ("paper_table", PAPER_TABLE_FILE)):
        if (path / name).is_file():
            v, err = read_json(path / name)
            rows, meta, err = (None, {}, err) if err else table_rows(name, v)
            if err:
                problems.append(f"{rid}: {err}; not shown")
            else:
                setattr(run, attr, rows)
                run.tables_meta[attr] = meta
    run.prediction_splits = tuple(splits_in(path))
    run.has_checkpoint = (path / "best.pt").is_file()
    if (path / PAPER_FIGURE_FILE).is_file():
        run.paper_figure = path / PAPER_FIGURE_FILE
    if all(v is None for v in (run.metrics, run.config, run.history, run.fusion, run.ablation, run.conformal, run.cv,
                               run.paper_table)):
        return None  # every marker file was corrupt: already reported
    return run


def _index_folder(folder: str) -> str | None:
    """A folder as a run id, or None when it is not a plain relative path inside the root."""
    p = PurePosixPath(folder.strip().replace("\\", "/"))
    if not folder.strip() or p.is_absolute() or ".." in p.parts or str(p) == ".":
        return None
    return p.as_posix()


def index_entry(row: dict[str, Any]) -> tuple[IndexEntry | None, str | None]:
    """(entry, None) or (None, why the row cannot be used)."""
    name = (row.get("name") or "").strip()
    if not name:
        return None, "a row has no name"
    kind = (row.get("kind") or "").strip()
    if kind not in INDEX_KINDS:
        return None, f"{name}: kind {kind!r} is not one of {', '.join(INDEX_KINDS)}"
    folder = _index_folder(row.get("folder") or "")
    if folder is None:
        return None, f"{name}: folder {row.get('folder')!r} is not a folder inside the results root"
    try:
        accuracy = float(row.get("accuracy") or "")
    except ValueError:
        return None, f"{name}: accuracy {row.get('accuracy')!r} is not a number"
    if not 0.0 <= accuracy <= 1.0:
        return None, f"{name}: accuracy {accuracy} is outside 0..1"
    shipped = (row.get("shipped") or "").strip().lower()
    if shipped not in ("yes", "no"):
        return None, f"{name}: shipped {row.get('shipped')!r} is neither yes nor no"
    cells = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
    return IndexEntry(name, kind, (row.get("dataset") or "").strip() or "unknown", folder, accuracy,
                      shipped == "yes", cells), None


def read_index(root: Path, problems: list[str]) -> list[IndexEntry] | None:
    """The published entries of ``root/index.csv``; None when it is absent or unusable (a line in ``problems``
    then). A bad row is left out with a line in ``problems``."""
    path = root / INDEX_FILE
    if not path.is_file():
        return None
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            problems.append(f"{INDEX_FILE}: {size / 2**20:.0f} MiB, larger than an index should be; every run is listed")
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{INDEX_FILE}: unreadable ({e.__class__.__name__}); every run is listed")
        return None
    try:
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in ("name", "kind", "dataset", "folder", "accuracy", "shipped")
                   if c not in (reader.fieldnames or [])]
        if missing:
            problems.append(f"{INDEX_FILE}: no column {', '.join(missing)} (still being written?); every run is listed")
            return None
        rows = list(reader)
    except csv.Error as e:
        problems.append(f"{INDEX_FILE}: not valid CSV ({e}); every run is listed")
        return None
    entries: list[IndexEntry] = []
    for row in rows:
        entry, err = index_entry(row)
        if err is None and any(e.folder == entry.folder for e in entries):
            err = f"{entry.name}: a second row for {entry.folder}"
        elif err is None and any(e.name == entry.name for e in entries):
            err = f"{entry.name}: a second row of that name"
        if err:
            problems.append(f"{INDEX_FILE}: {err}; row left out")
        else:
            entries.append(entry)
    return entries


def check_index(res: Results) -> None:
    """A line in ``res.problems`` for each published entry the tree does not back up."""
    for e in res.index or []:
        run = res.get(e.folder)
        if run is None:
            res.problems.append(f"{INDEX_FILE}: {e.name} names {e.folder}, which holds no readable run; not shown")
        elif run.finished and abs(run.metrics["accuracy"] - e.accuracy) > INDEX_ACCURACY_TOLERANCE:
            res.problems.append(f"{INDEX_FILE}: {e.name}'s accuracy {e.accuracy:.4f} differs from {e.folder}/"
                                f"{METRICS_FILE} ({run.metrics['accuracy']:.4f}); the run's own is shown, re-run "
                                "fer results index")


def load_results(root: str | Path) -> Results:
    """Every run under ``root`` and the published index; never raises for bad files (see ``Results.problems``)."""
    root = Path(root).expanduser()
    res = Results(root=root, exists=root.is_dir())
    for d in run_dirs(root):
        run = load_run(root, d, res.problems)
        if run is not None:
            res.runs.append(run)
    res.index = read_index(root, res.problems)
    check_index(res)
    return res


def split_metrics(run_path: str | Path, split: str) -> dict[str, Any]:
    """metrics.json-style dict for another split, computed from that split's predictions artifact.

    Raises ``fer_core.errors.ArtifactError`` (one line) when the artifact is unusable.
    """
    from fer_core.report import build_metrics  # scikit-learn: loaded only when another split is asked for

    preds = load_predictions(run_path, split)
    try:
        return build_metrics(preds)
    except ValueError as e:
        raise ArtifactError(str(e)) from None
