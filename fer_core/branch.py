"""The branch protocol and the plug-in registry (entry-point group ``fer.branches``).

A branch is anything that writes predictions artifacts (``fer_core.artifact``) over a declared label
space. The ensemble reads only artifacts; the branch class declares how its labels map onto the
platform's canonical FER7 space, so the mapping is data, not code inside the ensemble.

A separate package adds a modality by declaring, in its own pyproject.toml::

    [project.entry-points."fer.branches"]
    thermal = "my_pkg.branch:ThermalBranch"

See docs/ensemble.md ("Plugging in a new modality branch") for a worked example.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Mapping

from fer_core import artifact
from fer_core.artifact import Predictions
from fer_core.labels import FER7

ENTRY_POINT_GROUP = "fer.branches"


class Branch:
    """Base class for branch plug-ins. Subclasses set the class attributes below."""

    name: ClassVar[str] = ""  # registry key, e.g. "face"; artifacts name their producer "<name>/<variant>"
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

    @classmethod
    def produced(cls, predictions: Predictions) -> bool:
        """Whether ``predictions`` were written by this branch: its name prefixes the artifact's
        ``branch`` field (``face`` -> ``face/mobilenetv2_100``)."""
        prefix = predictions.branch.split("/", 1)[0]
        return bool(cls.name) and prefix == cls.name

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The plug-in's declaration as plain data (``fer ensemble list-branches``)."""
        return {
            "name": cls.name,
            "modality": cls.modality,
            "label_space": list(cls.label_space),
            "label_map": dict(cls.label_map),
            "description": cls.description,
            "class": f"{cls.__module__}:{cls.__qualname__}",
        }


def discover_branches(errors: dict[str, str] | None = None) -> dict[str, type[Branch]]:
    """All installed branch plug-ins, by name.

    A plug-in that fails to import is skipped, not fatal; pass a dict as ``errors`` to collect
    ``{entry point name: "ExceptionType: message"}`` for those.
    """
    found: dict[str, type[Branch]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except (ImportError, AttributeError) as e:
            if errors is not None:
                errors[ep.name] = f"{e.__class__.__name__}: {e}"
            continue
        found[getattr(cls, "name", "") or ep.name] = cls
    return found


def find_branch(predictions: Predictions, registry: Mapping[str, type[Branch]] | None = None) -> type[Branch] | None:
    """The installed plug-in that produced ``predictions``: by name prefix first, then by modality."""
    registry = discover_branches() if registry is None else registry
    for cls in registry.values():
        if cls.produced(predictions):
            return cls
    for cls in registry.values():
        if cls.modality and cls.modality == predictions.modality:
            return cls
    return None
