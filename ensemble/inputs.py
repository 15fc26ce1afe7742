"""Load branch run directories (fit split + eval split), refuse unsafe input, align on sample ids.

Everything here only reads; a fusion writes nothing until its inputs have passed every check.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from fer_core.artifact import Predictions, artifact_path, load_run
from fer_core.branch import Branch, discover_branches
from fer_core.errors import ArtifactError, UserError
from fer_core.labels import FER7

from ensemble.labels import LabelMapping, read_label_map_file, resolve_mapping


@dataclass
class BranchInput:
    name: str  # unique within one fusion
    run_dir: Path
    mapping: LabelMapping
    artifacts: dict[str, Predictions]  # split -> artifact as stored

    @property
    def first(self) -> Predictions:
        return next(iter(self.artifacts.values()))

    @property
    def modality(self) -> str:
        return self.first.modality

    def info(self, fit_split: str | None = None) -> dict[str, Any]:
        """What a fusion records of this member; ``fingerprint`` (of its ``fit_split`` predictions) is its identity."""
        out = {"name": self.name, "run_dir": str(self.run_dir), "modality": self.modality,
               "branch": self.first.branch, "label_space": list(self.mapping.source)}
        if fit_split is not None and fit_split in self.artifacts:
            out["fingerprint"] = self.artifacts[fit_split].fingerprint()
        return out


@dataclass
class AlignedSplit:
    """One split of every branch, in the target label space, rows aligned on ``ids``: what the fusion combines
    (``probs``, each branch's ``Predictions.fusion_input``) and each branch's own calibrated probabilities
    (``calibrated``; the same unless isotonic maps follow its temperature)."""

    split: str
    ids: np.ndarray  # (N,)
    labels: np.ndarray  # (N,) target index, -1 unknown
    probs: np.ndarray  # (B, N, C), NaN rows where a branch is absent
    present: np.ndarray  # (B, N) bool
    calibrated: np.ndarray | None = None  # (B, N, C); None: equal to probs

    @property
    def any_present(self) -> np.ndarray:
        return self.present.any(0)

    @property
    def branch_probs(self) -> np.ndarray:
        return self.probs if self.calibrated is None else self.calibrated

    def branches(self, index: Sequence[int]) -> "AlignedSplit":
        index = list(index)
        return replace(self, probs=self.probs[index], present=self.present[index],
                       calibrated=None if self.calibrated is None else self.calibrated[index])


@dataclass
class FusionInputs:
    branches: list[BranchInput]
    label_space: tuple[str, ...]
    fit: AlignedSplit
    eval: AlignedSplit
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.branches]

    def select(self, index: Sequence[int]) -> "FusionInputs":
        index = list(index)
        return FusionInputs([self.branches[i] for i in index], self.label_space, self.fit.branches(index),
                            self.eval.branches(index), list(self.notes))


def load_checked_split(run_dir: Path, split: str, eval_split: str) -> Predictions:
    """``run_dir``'s artifact of ``split``, validated and refused if its producer saw ``eval_split``."""
    path = artifact_path(run_dir, split)
    preds = load_run(run_dir, split)  # validates: format, version, shapes, NaN/inf, sums
    if preds.split != split:
        raise ArtifactError(f"{path}: holds split {preds.split!r}, not {split!r}")
    if eval_split in preds.fit_splits:
        raise ArtifactError(
            f"{path}: the producer was fit on {eval_split!r}, the evaluation split (leakage); refit it without that split"
        )
    if preds.calibration_split == eval_split:
        raise ArtifactError(
            f"{path}: calibrated on {eval_split!r}, the evaluation split (leakage); recalibrate it on another split"
        )
    if split == eval_split:
        preds.check_no_leakage(str(path))
    return preds


def _unique_names(arts: list[Predictions], run_dirs: list[Path]) -> list[str]:
    """Branch names, made unique where two runs share one: ``face/vgg48_slim@vgg48_slim_seed0``.

    The suffix is the shortest tail of the run directory's path that tells the clashing runs apart.
    """
    raw = [a.branch for a in arts]
    names = list(raw)
    for name in set(raw):
        clash = [i for i, n in enumerate(raw) if n == name]
        if len(clash) < 2:
            continue
        parts = [Path(run_dirs[i]).resolve().parts for i in clash]
        depth = 1
        while depth < max(map(len, parts)) and len({p[-depth:] for p in parts}) < len(parts):
            depth += 1
        for i, p in zip(clash, parts):
            names[i] = f"{name}@{Path(*p[-depth:]).as_posix()}"
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def _align(split: str, branches: list[BranchInput], target: tuple[str, ...], allow_partial: bool) -> tuple[AlignedSplit, list[str]]:
    arts = [b.artifacts[split] for b in branches]
    paths = [artifact_path(b.run_dir, split) for b in branches]
    common = set(arts[0].ids.tolist())
    for a in arts[1:]:
        common &= set(a.ids.tolist())
    notes = []
    if any(a.n != len(common) for a in arts):
        if not allow_partial:
            base = set(arts[0].ids.tolist())
            for a, p in zip(arts[1:], paths[1:]):
                other = set(a.ids.tolist())
                if other != base:
                    raise ArtifactError(
                        f"{split}: sample ids differ: {p} has {len(other - base)} ids not in {paths[0]} and lacks "
                        f"{len(base - other)} of its {len(base)}; {len(common)} ids are shared by all {len(arts)} "
                        f"branches (pass --allow-partial to fuse on those only)"
                    )
        if not common:
            raise ArtifactError(f"{split}: the branches share no sample ids; they are not predictions on the same data")
        for a, p in zip(arts, paths):
            if a.n != len(common):
                notes.append(f"{split}: {a.n - len(common)} of {a.n} ids in {p} are not shared by every branch and were left out")
    ids = arts[0].ids[np.isin(arts[0].ids, list(common))]
    n, c = len(ids), len(target)
    probs = np.full((len(arts), n, c), np.nan)
    calibrated = np.full((len(arts), n, c), np.nan)
    present = np.zeros((len(arts), n), bool)
    labels = np.full(n, -1, np.int64)
    label_owner = np.full(n, -1)
    for k, (b, a) in enumerate(zip(branches, arts)):
        take = a.rows_of(ids)
        present[k] = a.present[take]
        probs[k] = b.mapping.map_probs(a.fusion_input[take])
        calibrated[k] = b.mapping.map_probs(a.probs[take])
        probs[k][~present[k]] = calibrated[k][~present[k]] = np.nan
        lab = b.mapping.map_labels(a.labels[take])
        clash = (lab >= 0) & (labels >= 0) & (lab != labels)
        if clash.any():
            i = int(np.flatnonzero(clash)[0])
            other = branches[label_owner[i]]
            raise ArtifactError(
                f"{split}: branches disagree on the label of {int(clash.sum())} samples (first {ids[i]!r}: "
                f"{other.name} says {target[labels[i]]!r}, {b.name} says {target[lab[i]]!r}); they are not the same samples"
            )
        new = (labels < 0) & (lab >= 0)
        labels[new], label_owner[new] = lab[new], k
    same = np.array_equal(probs, calibrated, equal_nan=True)
    return AlignedSplit(split, ids, labels, probs, present, None if same else calibrated), notes


def load_inputs(
    run_dirs: Sequence[str | Path],
    *,
    fit_split: str = "PublicTest",
    eval_split: str = "PrivateTest",
    label_space: Sequence[str] = FER7,
    label_map_file: str | Path | None = None,
    allow_partial: bool = False,
    registry: Mapping[str, type[Branch]] | None = None,
) -> FusionInputs:
    """Read and check every branch; raise UserError/ArtifactError (one line) on the first problem."""
    if not run_dirs:
        raise UserError("give at least one --branch run directory")
    if fit_split == eval_split:
        raise UserError(f"--fit-split and --eval-split are both {fit_split!r}: fitting on the evaluation split is leakage")
    target = tuple(label_space)
    if len(target) < 2 or len(set(target)) != len(target):
        raise UserError(f"--label-space must name at least 2 distinct labels, got {list(target)}")
    dirs = [Path(d) for d in run_dirs]
    seen: dict[Path, Path] = {}
    for d in dirs:
        if not d.is_dir():
            raise UserError(f"{d}: not a run directory")
        if d.resolve() in seen:
            raise UserError(f"{d}: given twice as --branch (also as {seen[d.resolve()]})")
        seen[d.resolve()] = d
    file_maps = read_label_map_file(label_map_file) if label_map_file else {}
    registry = discover_branches() if registry is None else registry

    loaded = []
    for d in dirs:
        arts = {s: load_checked_split(d, s, eval_split) for s in (fit_split, eval_split)}
        a_fit, a_eval = arts[fit_split], arts[eval_split]
        if a_fit.label_space != a_eval.label_space or a_fit.branch != a_eval.branch:
            raise ArtifactError(
                f"{d}: the {fit_split} and {eval_split} artifacts come from different branches or label spaces"
            )
        shared = np.intersect1d(a_fit.ids, a_eval.ids)
        if len(shared):
            raise ArtifactError(
                f"{d}: {len(shared)} sample ids are in both {fit_split} and {eval_split} (first {shared[0]!r}); "
                f"fitting on evaluation samples is leakage"
            )
        mapping = resolve_mapping(a_eval, target, source_name=str(artifact_path(d, eval_split)),
                                  file_maps=file_maps, file_name=str(label_map_file), registry=registry)
        loaded.append((d, arts, mapping))
    names = _unique_names([arts[eval_split] for _, arts, _ in loaded], dirs)
    branches = [BranchInput(n, d, m, arts) for n, (d, arts, m) in zip(names, loaded)]
    fit, notes_fit = _align(fit_split, branches, target, allow_partial)
    ev, notes_eval = _align(eval_split, branches, target, allow_partial)
    if not ((fit.labels >= 0) & fit.any_present).any():
        raise ArtifactError(f"{fit_split}: no labelled sample with any branch present; nothing to fit the fusion on")
    return FusionInputs(branches, target, fit, ev, notes_fit + notes_eval)
