"""The predictions artifact: the one format that flows branch -> ensemble -> dashboard.

A run directory holds one artifact per evaluated split at ``predictions/<split>.json``, or gzip-compressed at
``predictions/<split>.json.gz`` (published folders keep them so, a third of the size); every reader takes either.
Format ``fer-predictions`` version 1 is a single JSON object:

    {
      "format": "fer-predictions", "version": 1,
      "branch": "face/mobilenetv2_100",      # unique name of the producer
      "modality": "face",                     # face | landmarks | audio | fusion | <plug-in>
      "dataset": "fer2013",                   # fer2013 | synthetic | ravdess | pseudo-pairs | ...
      "split": "PrivateTest",                 # the split these rows belong to
      "label_space": ["angry", ...],          # column order of logits/probs
      "temperature": 1.21,                    # applied: probs = softmax(logits / temperature)
      "calibration": {"kind": "isotonic", ...},  # optional: what follows the temperature (fer_core.calibration)
      "calibration_split": "PublicTest",      # split the calibration was fit on (null: none)
      "fit_splits": ["Training"],             # splits used to fit any parameter of the producer
      "command": "fer face train ...",        # exact command line that produced it
      "extra": {...},                          # free-form producer metadata
      "samples": {
        "id": [...], "label": [...],          # label: index into label_space, -1 if unknown
        "present": [...],                     # false: the branch has no prediction for this sample
        "logits": [[...], ...] | null,        # uncalibrated scores (null rows where absent)
        "probs": [[...], ...]                 # calibrated probabilities (null rows where absent)
      }
    }

Sample ids are the join key across branches (FER2013: the image file name or ``csv:<row>``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fer_core import atomic
from fer_core.calibration import Calibrator
from fer_core.errors import ArtifactError

FORMAT = "fer-predictions"
VERSION = 1
PLAIN, PACKED = ".json", ".json.gz"
SAVED_DECIMALS = 7  # logits and probabilities are saved rounded to this many decimals
PROB_SUM_TOLERANCE = 1e-3


def as_saved(values: np.ndarray) -> np.ndarray:
    """``values`` as an artifact stores them: a calibrator fit on these is refit identically from the saved file."""
    return np.round(np.asarray(values, np.float64), SAVED_DECIMALS)


@dataclass
class Predictions:
    ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int64, -1 = unknown
    probs: np.ndarray  # (N, C) float64, NaN rows where absent
    label_space: tuple[str, ...]
    branch: str
    modality: str
    dataset: str
    split: str
    present: np.ndarray | None = None  # (N,) bool; None = all present
    logits: np.ndarray | None = None  # (N, C) float64 or None
    temperature: float = 1.0
    calibration_split: str | None = None
    fit_splits: list[str] = field(default_factory=list)
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None  # what follows the temperature (Calibrator.to_json); None: nothing

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=str)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.probs = np.asarray(self.probs, dtype=np.float64)
        self.label_space = tuple(self.label_space)
        if self.present is None:
            self.present = np.ones(len(self.ids), dtype=bool)
        self.present = np.asarray(self.present, dtype=bool)
        if self.logits is not None:
            self.logits = np.asarray(self.logits, dtype=np.float64)
        self.fit_splits = list(self.fit_splits)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def num_classes(self) -> int:
        return len(self.label_space)

    @property
    def calibrator(self) -> Calibrator:
        """logits -> these probabilities (``probs == calibrator.probs(logits)`` where logits are saved)."""
        return Calibrator.from_json(self.temperature, self.calibration, self.num_classes)

    @property
    def fusion_input(self) -> np.ndarray:
        """What a fusion combines: ``probs``, or, where isotonic maps follow the temperature, the smooth
        probabilities before them (``Calibrator.smooth_probs``)."""
        calibrator = self.calibrator
        return self.probs if calibrator.isotonic is None else calibrator.smooth_probs(self.logits)

    def validate(self, source: str = "predictions") -> "Predictions":
        """Raise ArtifactError (one line, naming ``source``) if the contents are inconsistent."""
        n, c = self.n, self.num_classes
        if c < 2:
            raise ArtifactError(f"{source}: label_space needs at least 2 classes, got {list(self.label_space)}")
        if len(set(self.label_space)) != c:
            raise ArtifactError(f"{source}: label_space has duplicate names {list(self.label_space)}")
        if self.probs.shape != (n, c):
            raise ArtifactError(f"{source}: probs has shape {self.probs.shape}, expected ({n}, {c})")
        if self.logits is not None and self.logits.shape != (n, c):
            raise ArtifactError(f"{source}: logits has shape {self.logits.shape}, expected ({n}, {c})")
        if self.labels.shape != (n,) or self.present.shape != (n,):
            raise ArtifactError(f"{source}: labels/present must have one entry per id ({n})")
        if len(np.unique(self.ids)) != n:
            raise ArtifactError(f"{source}: sample ids are not unique")
        bad_label = (self.labels < -1) | (self.labels >= c)
        if bad_label.any():
            i = int(np.flatnonzero(bad_label)[0])
            raise ArtifactError(f"{source}: sample {self.ids[i]!r} has label {self.labels[i]} outside 0..{c - 1}")
        p = self.probs[self.present]
        if not np.isfinite(p).all():
            i = int(np.flatnonzero(self.present)[np.flatnonzero(~np.isfinite(p).all(1))[0]])
            raise ArtifactError(f"{source}: sample {self.ids[i]!r} has NaN/inf probabilities; mark it absent instead")
        if (p < 0).any():
            raise ArtifactError(f"{source}: negative probabilities")
        sums = p.sum(1)
        off = np.abs(sums - 1.0) > PROB_SUM_TOLERANCE
        if off.any():
            i = int(np.flatnonzero(self.present)[np.flatnonzero(off)[0]])
            raise ArtifactError(
                f"{source}: probabilities of sample {self.ids[i]!r} sum to {sums[off][0]:.4f}, not 1 "
                f"(tolerance {PROB_SUM_TOLERANCE})"
            )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ArtifactError(f"{source}: temperature must be a positive number, got {self.temperature}")
        try:
            kind = self.calibrator.kind
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(f"{source}: malformed calibration ({e})") from None
        if kind == "isotonic" and self.logits is None:
            raise ArtifactError(f"{source}: isotonic calibration needs the logits (a fusion combines the probabilities "
                                "before the maps); save them")
        return self

    def check_no_leakage(self, source: str = "predictions") -> None:
        """Refuse predictions whose producer was fit or calibrated on the split being evaluated."""
        if self.split in self.fit_splits:
            raise ArtifactError(f"{source}: the producer was fit on {self.split!r}, the split it is evaluated on (leakage)")
        if self.calibration_split is not None and self.calibration_split == self.split:
            raise ArtifactError(f"{source}: calibrated on {self.split!r}, the split it is evaluated on (leakage)")

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row indices of the samples ``ids``, in that order (every id must be here)."""
        row = {sid: i for i, sid in enumerate(self.ids.tolist())}
        return np.fromiter((row[sid] for sid in np.asarray(ids).tolist()), np.int64, count=len(ids))

    def subset(self, index: np.ndarray) -> "Predictions":
        index = np.asarray(index)
        return Predictions(
            ids=self.ids[index], labels=self.labels[index], probs=self.probs[index],
            present=self.present[index], logits=None if self.logits is None else self.logits[index],
            label_space=self.label_space, branch=self.branch, modality=self.modality, dataset=self.dataset,
            split=self.split, temperature=self.temperature, calibration_split=self.calibration_split,
            fit_splits=self.fit_splits, command=self.command, extra=dict(self.extra), calibration=self.calibration,
        )

    # -- serialisation -------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """sha256 of what these predictions say: producer, split, ids and calibrated probabilities (to 1e-6).

        Two runs that differ in anything that changes a prediction differ here; re-encoding the same
        predictions does not. A fusion records its members' fingerprints and refuses any other run.
        """
        h = hashlib.sha256()
        h.update(f"{self.branch}\n{self.split}\n".encode())
        h.update("\n".join(self.ids.tolist()).encode())
        rounded = np.where(np.isfinite(self.probs), np.round(self.probs, 6), -1.0)
        h.update(np.ascontiguousarray(rounded, dtype="<f8").tobytes())
        return h.hexdigest()

    def to_json(self) -> dict[str, Any]:
        def rows(a: np.ndarray | None) -> list | None:
            if a is None:
                return None
            out = as_saved(a).tolist()
            return [r if keep else None for r, keep in zip(out, self.present.tolist())]

        return {
            "format": FORMAT,
            "version": VERSION,
            "branch": self.branch,
            "modality": self.modality,
            "dataset": self.dataset,
            "split": self.split,
            "label_space": list(self.label_space),
            "temperature": float(self.temperature),
            **({"calibration": self.calibration} if self.calibration is not None else {}),
            "calibration_split": self.calibration_split,
            "fit_splits": self.fit_splits,
            "command": self.command,
            "extra": self.extra,
            "samples": {
                "id": self.ids.tolist(),
                "label": self.labels.tolist(),
                "present": self.present.tolist(),
                "logits": rows(self.logits),
                "probs": rows(self.probs),
            },
        }

    def save(self, path: str | Path) -> Path:
        """Write the artifact to ``path`` (gzip-compressed when it ends in ``.json.gz``), atomically."""
        self.validate(str(path))
        path = Path(path)
        text = json.dumps(self.to_json(), allow_nan=False) + "\n"
        if path.name.endswith(PACKED):
            atomic.write_bytes(path, gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
        else:
            atomic.write_text(path, text)
        return path


def _rows_to_array(rows: Sequence | None, n: int, c: int, name: str, source: str) -> np.ndarray | None:
    if rows is None:
        return None
    if len(rows) != n:
        raise ArtifactError(f"{source}: samples.{name} has {len(rows)} rows, expected {n}")
    out = np.full((n, c), np.nan)
    for i, r in enumerate(rows):
        if r is None:
            continue
        if len(r) != c:
            raise ArtifactError(f"{source}: samples.{name} row {i} has {len(r)} values, expected {c}")
        out[i] = [np.nan if v is None else v for v in r]
    return out


def from_json(obj: Any, source: str = "predictions") -> Predictions:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ArtifactError(f"{source}: not a {FORMAT} artifact (missing 'format': '{FORMAT}')")
    if obj.get("version") != VERSION:
        raise ArtifactError(
            f"{source}: unknown {FORMAT} version {obj.get('version')!r}; this release reads version {VERSION}"
        )
    try:
        s = obj["samples"]
        labels_space = tuple(obj["label_space"])
        n, c = len(s["id"]), len(labels_space)
        present = s.get("present")
        preds = Predictions(
            ids=s["id"],
            labels=s["label"],
            present=np.ones(n, bool) if present is None else present,
            probs=_rows_to_array(s["probs"], n, c, "probs", source),
            logits=_rows_to_array(s.get("logits"), n, c, "logits", source),
            label_space=labels_space,
            branch=obj["branch"],
            modality=obj["modality"],
            dataset=obj.get("dataset", "unknown"),
            split=obj["split"],
            temperature=float(obj.get("temperature", 1.0)),
            calibration_split=obj.get("calibration_split"),
            fit_splits=obj.get("fit_splits", []),
            command=obj.get("command", ""),
            extra=obj.get("extra", {}),
            calibration=obj.get("calibration"),
        )
    except KeyError as e:
        raise ArtifactError(f"{source}: missing field {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise ArtifactError(f"{source}: malformed field ({e})") from None
    return preds.validate(source)


def load(path: str | Path) -> Predictions:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: predictions artifact not found")
    try:
        raw = path.read_bytes()
        obj = json.loads((gzip.decompress(raw) if path.name.endswith(PACKED) else raw).decode("utf-8"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{path}: unreadable predictions artifact ({e.__class__.__name__}: {e})") from None
    return from_json(obj, str(path))


def artifact_path(run_dir: str | Path, split: str) -> Path:
    """Where ``split``'s artifact of a run is: the packed file when only that exists, else the plain one (also
    where a new artifact is written, so re-evaluating a published folder keeps it packed)."""
    plain = Path(run_dir) / "predictions" / f"{split}{PLAIN}"
    packed = plain.with_name(f"{split}{PACKED}")
    return packed if packed.is_file() and not plain.is_file() else plain


def splits_in(run_dir: str | Path) -> list[str]:
    """The splits a run directory holds artifacts for (plain or packed), sorted."""
    folder = Path(run_dir) / "predictions"
    if not folder.is_dir():
        return []
    names = {p.name.removesuffix(PACKED).removesuffix(PLAIN) for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.name.endswith((PLAIN, PACKED))}
    return sorted(names)


def pack(run_dir: str | Path) -> list[Path]:
    """Gzip every plain artifact of ``run_dir`` in place (read, validated, written packed, plain removed)."""
    packed = []
    for split in splits_in(run_dir):
        plain = Path(run_dir) / "predictions" / f"{split}{PLAIN}"
        if plain.is_file():
            target = load(plain).save(plain.with_name(f"{split}{PACKED}"))
            plain.unlink()
            packed.append(target)
    return packed


def load_run(run_dir: str | Path, split: str) -> Predictions:
    """Load the artifact of ``split`` from a run directory."""
    path = artifact_path(run_dir, split)
    if not path.is_file():
        raise ArtifactError(f"{run_dir}: no predictions for split {split!r} (expected {path})")
    return load(path)
