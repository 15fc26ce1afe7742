"""Map a branch's label space onto the fusion's target label space, exactly as declared.

The ensemble never guesses a mapping. A branch label reaches the target space only if

* it has the same name as a target label (identity), or
* the branch's plug-in declares it in ``label_map`` (``fer_core.branch.Branch``), or
* a ``--label-map FILE.toml`` table for that branch declares it (overrides the plug-in, label by label).

A label mapped to ``None`` (TOML: ``false``) is dropped: its probability mass is removed and the rest
renormalised. Several labels may map to one target label (their probabilities add up). A target label
that no branch label maps to is *uncovered*: the branch cannot speak about it, so it is given the
uninformative share ``1/C`` of the target's ``C`` classes and the covered classes share the rest in
proportion to the branch's probabilities. In a log-linear pool this makes the branch neutral about
uncovered classes instead of vetoing them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from fer_core.artifact import Predictions
from fer_core.branch import Branch, find_branch
from fer_core.errors import ArtifactError, UserError

LabelMaps = dict[str, dict[str, str | None]]  # section (branch / plug-in / modality) -> {source: target|None}


@dataclass(frozen=True)
class LabelMapping:
    source: tuple[str, ...]
    target: tuple[str, ...]
    mapping: dict[str, str | None]  # every source label -> target label, or None (dropped)
    declared_by: str

    @property
    def matrix(self) -> np.ndarray:
        m = np.zeros((len(self.source), len(self.target)))
        for i, s in enumerate(self.source):
            t = self.mapping[s]
            if t is not None:
                m[i, self.target.index(t)] = 1.0
        return m

    @property
    def uncovered(self) -> tuple[str, ...]:
        hit = set(self.mapping.values())
        return tuple(t for t in self.target if t not in hit)

    @property
    def is_identity(self) -> bool:
        return self.source == self.target

    def map_probs(self, probs: np.ndarray) -> np.ndarray:
        """(N, S) probabilities in the source space -> (N, T) in the target space (NaN rows stay NaN)."""
        probs = np.asarray(probs, np.float64)
        if self.is_identity:
            return probs.copy()
        m = self.matrix
        covered = m.any(0)
        kept = probs @ m
        mass = kept.sum(1, keepdims=True)
        with np.errstate(invalid="ignore"):
            # all mass on dropped labels: the branch says nothing about the target classes
            cond = np.where(mass > 0, kept / np.where(mass > 0, mass, 1.0), covered / covered.sum())
        n_target = len(self.target)
        out = cond * (covered.sum() / n_target)
        out[:, ~covered] = 1.0 / n_target
        out[~np.isfinite(probs).all(1)] = np.nan
        return out

    def map_labels(self, labels: np.ndarray) -> np.ndarray:
        """Source label indices -> target indices; -1 for unknown or dropped labels."""
        lookup = np.array(
            [self.target.index(self.mapping[s]) if self.mapping[s] is not None else -1 for s in self.source] + [-1]
        )
        labels = np.asarray(labels, np.int64)
        return lookup[np.where(labels >= 0, labels, len(self.source))]

    def to_json(self) -> dict[str, Any]:
        return {"mapping": dict(self.mapping), "declared_by": self.declared_by, "uncovered": list(self.uncovered)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: Sequence[str], target: Sequence[str]) -> "LabelMapping":
        return cls(tuple(source), tuple(target), dict(obj["mapping"]), obj.get("declared_by", "fusion.json"))


def read_label_map_file(path: str | Path) -> LabelMaps:
    """Parse ``--label-map FILE.toml``: one table per branch, ``source = "target"`` (``false`` drops it)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: label-map file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"{path}: unreadable label-map TOML ({e})") from None
    out: LabelMaps = {}
    for section, table in doc.items():
        if not isinstance(table, dict):
            raise UserError(f"{path}: [{section}] must be a table of `source = \"target\"` entries")
        out[section] = {}
        for src, dst in table.items():
            if dst is False:
                out[section][src] = None
            elif isinstance(dst, str):
                out[section][src] = dst
            else:
                raise UserError(f"{path}: [{section}] {src} = {dst!r}: give a target label name, or false to drop it")
    return out


def _declared_map(
    preds: Predictions, file_maps: LabelMaps, file_name: str, registry: Mapping[str, type[Branch]]
) -> tuple[dict[str, str | None], str]:
    merged: dict[str, str | None] = {}
    origin = []
    plugin = find_branch(preds, registry)
    if plugin is not None and plugin.label_map:
        merged.update(plugin.label_map)
        origin.append(f"plug-in {plugin.name!r}")
    prefix = preds.branch.split("/", 1)[0]
    for key in (preds.branch, prefix, preds.modality):
        if key in file_maps:
            merged.update(file_maps[key])
            origin.append(f"{file_name} [{key}]")
            break
    return merged, " + ".join(origin)


def resolve_mapping(
    preds: Predictions,
    target: Sequence[str],
    *,
    source_name: str,
    file_maps: LabelMaps | None = None,
    file_name: str = "--label-map",
    registry: Mapping[str, type[Branch]] | None = None,
) -> LabelMapping:
    """The declared mapping of ``preds.label_space`` onto ``target``, or ArtifactError naming the gap."""
    target = tuple(target)
    declared, origin = _declared_map(preds, file_maps or {}, file_name, registry or {})
    mapping: dict[str, str | None] = {}
    unmapped = []
    for label in preds.label_space:
        if label in declared:
            dst = declared[label]
            if dst is not None and dst not in target:
                raise ArtifactError(
                    f"{source_name}: {origin} maps {label!r} to {dst!r}, which is not in the target label space {list(target)}"
                )
            mapping[label] = dst
        elif label in target:
            mapping[label] = label
        else:
            unmapped.append(label)
    if unmapped:
        raise ArtifactError(
            f"{source_name}: labels {unmapped} of branch {preds.branch!r} are not in the target label space "
            f"{list(target)} and no mapping is declared (declare label_map in its plug-in, or pass "
            f"--label-map FILE.toml with a [{preds.branch.split('/', 1)[0]}] table)"
        )
    if all(v is None for v in mapping.values()):
        raise ArtifactError(f"{source_name}: every label of branch {preds.branch!r} is dropped by {origin}; nothing to fuse")
    return LabelMapping(tuple(preds.label_space), target, mapping, origin or "identity")
