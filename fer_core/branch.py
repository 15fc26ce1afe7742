"""The branch protocol and the plug-in registry (entry-point group ``fer.branches``).

A branch is anything that writes predictions artifacts (``fer_core.artifact``) over a declared label
space. The ensemble reads only artifacts; the branch class declares how its labels map onto the
platform's canonical FER7 space, so the mapping is data, not code inside the ensemble.

A separate package adds a modality by declaring, in its own pyproject.toml::

    [project.entry-points."fer.branches"]
    thermal = "my_pkg.branch:ThermalBranch"
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar, Mapping

from fer_core import artifact
from fer_core.artifact import Predictions
from fer_core.labels import FER7

ENTRY_POINT_GROUP = "fer.branches"


class Branch:
    """Base class for branch plug-ins. Subclasses set the class attributes below."""

    name: ClassVar[str] = ""  # registry key, e.g. "face"
    modality: ClassVar[str] = ""  # value of the artifact's "modality" field
    description: ClassVar[str] = ""
    label_space: ClassVar[tuple[str, ...]] = FER7  # the branch's own label space (artifact column order)
    # branch label -> canonical FER7 label; labels absent here must already be FER7 names,
    # a label mapped to None has no FER7 counterpart and is dropped (its mass renormalised away)
    label_map: ClassVar[Mapping[str, str | None]] = {}

    def load_predictions(self, run_dir: str | Path, split: str) -> Predictions:
        return artifact.load_run(run_dir, split)

    @classmethod
    def canonical_label(cls, label: str) -> str | None:
        if label in cls.label_map:
            return cls.label_map[label]
        return label if label in FER7 else None


def discover_branches() -> dict[str, type[Branch]]:
    """All installed branch plug-ins, by name."""
    found: dict[str, type[Branch]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except (ImportError, AttributeError):
            continue  # a plug-in that fails to import is skipped, not fatal
        found[getattr(cls, "name", "") or ep.name] = cls
    return found
