"""The model zoo: published models, their files and one manifest.

``fer_core/shipped/manifest.json`` lists every published model and fusion. A model either ships inside the
package (its ``file`` lies next to the manifest: small, usable right after install, offline) or is only named,
with the sha256 of a file the user keeps locally and passes with ``weights=``/``--weights``. Weights are
safetensors (no pickle); every load checks the file's sha256 against the manifest and refuses a mismatch.

Each model records how it was made (recipe, command, results folder), how good it is (PrivateTest accuracy,
ECE and its perfect-calibration band) and its calibration (fit on PublicTest: a temperature, and what follows it). ``fingerprint`` is
the content fingerprint of its PublicTest predictions (``Predictions.fingerprint``): a fusion names its members
by fingerprint, so it is applied only to the exact runs it was fit on.

This module knows files and hashes only; each branch turns the tensors into its network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from fer_core import atomic
from fer_core.artifact import load_run
from fer_core.calibration import Calibrator
from fer_core.conformal import zoo_sets
from fer_core.errors import UserError

SHIPPED_DIR = Path(__file__).parent / "shipped"
MANIFEST_FILE = "manifest.json"
FORMAT, VERSION = "fer-zoo", 1
BRANCHES = ("face", "landmarks", "audio")


@dataclass(frozen=True)
class ZooModel:
    name: str  # unique across the zoo, e.g. "vgg48_slim"
    branch: str  # face | landmarks | audio
    sha256: str  # of the weights file
    label_space: tuple[str, ...]
    temperature: float
    fingerprint: str  # Predictions.fingerprint() of the run's PublicTest predictions
    config: dict[str, Any]  # what the branch needs to rebuild the network
    metrics: dict[str, Any]  # split, accuracy, macro_f1, nll, ece, ece_band
    recipe: str
    command: str
    run: str  # results folder of the run the weights come from
    file: str | None = None  # shipped file next to the manifest; None: named only, pass weights=
    bytes: int = 0
    dtype: str = "float32"
    default: bool = False  # the branch's model when none is named
    description: str = ""
    calibration: dict[str, Any] | None = None  # what follows the temperature (Calibrator.to_json); None: nothing
    conformal: dict[str, Any] | None = None  # prediction-set thresholds (fer_core.conformal.zoo_sets)

    @property
    def shipped(self) -> bool:
        return self.file is not None

    @property
    def calibrator(self) -> Calibrator:
        return Calibrator.from_json(self.temperature, self.calibration, len(self.label_space))


@dataclass(frozen=True)
class ZooFusion:
    name: str
    file: str  # fusion.json (ensemble.fusion.FittedFusion) next to the manifest
    sha256: str
    members: dict[str, str]  # fusion branch name -> zoo model name
    metrics: dict[str, Any]
    command: str
    run: str
    default: bool = False
    description: str = ""
    conformal: dict[str, Any] | None = None  # prediction-set thresholds (fer_core.conformal.zoo_sets)


@dataclass
class Manifest:
    models: list[ZooModel] = field(default_factory=list)
    fusions: list[ZooFusion] = field(default_factory=list)
    root: Path = SHIPPED_DIR

    def model(self, name: str) -> ZooModel:
        for m in self.models:
            if m.name == name:
                return m
        raise UserError(f"unknown model {name!r}; published models: {', '.join(m.name for m in self.models) or 'none'}")

    def fusion(self, name: str) -> ZooFusion:
        for f in self.fusions:
            if f.name == name:
                return f
        raise UserError(f"unknown fusion {name!r}; published fusions: {', '.join(f.name for f in self.fusions) or 'none'}")

    def default_model(self, branch: str) -> ZooModel:
        for m in self.models:
            if m.branch == branch and m.default:
                return m
        raise UserError(f"no default {branch} model in {self.root / MANIFEST_FILE}; pass a model name or a run directory")

    def names(self, branch: str) -> list[str]:
        return [m.name for m in self.models if m.branch == branch]

    def named(self, branch: str, name_or_run: str | Path | None) -> ZooModel | None:
        """The entry a ``load_model`` argument means: None -> the branch's default, a published name -> that
        model, anything else -> None (a run directory)."""
        if name_or_run is None:
            return self.default_model(branch)
        return self.model(str(name_or_run)) if str(name_or_run) in self.names(branch) else None

    def default_fusion(self) -> ZooFusion | None:
        return next((f for f in self.fusions if f.default), None)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION,
                "models": [{**asdict(m), "label_space": list(m.label_space)} for m in self.models],
                "fusions": [asdict(f) for f in self.fusions]}

    def save(self, root: str | Path | None = None) -> Path:
        path = Path(root or self.root) / MANIFEST_FILE
        atomic.write_json(path, self.to_json())
        return path


def load_manifest(root: str | Path | None = None) -> Manifest:
    """The manifest in ``root`` (default: ``$FER_ZOO_DIR``, else the one that ships with the package); empty if absent."""
    root = Path(root if root is not None else os.environ.get("FER_ZOO_DIR", SHIPPED_DIR))
    path = root / MANIFEST_FILE
    if not path.is_file():
        return Manifest(root=root)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable model manifest ({e})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("version") != VERSION:
        raise UserError(f"{path}: not a {FORMAT} version {VERSION} manifest")
    try:
        models = [ZooModel(**{**m, "label_space": tuple(m["label_space"])}) for m in obj["models"]]
        fusions = [ZooFusion(**f) for f in obj["fusions"]]
    except (KeyError, TypeError) as e:
        raise UserError(f"{path}: malformed model manifest ({e})") from None
    for m in models:
        if m.branch not in BRANCHES:
            raise UserError(f"{path}: model {m.name!r} has unknown branch {m.branch!r}; one of {', '.join(BRANCHES)}")
    return Manifest(models, fusions, root)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_file(path: str | Path, sha256: str, what: str) -> Path:
    """``path`` if its sha256 is ``sha256``; else a one-line UserError (a corrupt or different file)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    actual = sha256_file(path)
    if actual != sha256:
        raise UserError(f"{path}: sha256 {actual[:12]}... does not match the manifest's {sha256[:12]}... for {what}; "
                        "the file is corrupt or a different model")
    return path


def model_file(manifest: Manifest, entry: ZooModel, weights: str | Path | None = None) -> Path:
    """The checked weights file of ``entry``: the shipped one, or ``weights`` for a model that does not ship."""
    if weights is None and not entry.shipped:
        raise UserError(f"model {entry.name!r} does not ship with the package (too large); pass its weights file "
                        f"(sha256 {entry.sha256[:12]}...), made with: {entry.command}")
    path = Path(weights) if weights is not None else manifest.root / entry.file
    return verified_file(path, entry.sha256, f"weights of {entry.name!r}")


def read_tensors(path: str | Path) -> dict[str, Any]:
    """Tensors of a safetensors file (float32 on CPU); the caller has checked the hash."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable safetensors file ({e})") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}


def write_tensors(tensors: Mapping[str, Any], path: str | Path, *, half: bool = False) -> None:
    """Save tensors as safetensors, atomically; ``half`` stores floating-point tensors as float16."""
    from safetensors.torch import save_file

    out = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()).contiguous()
           for k, v in tensors.items()}
    with atomic.atomic_path(path, suffix=Path(path).suffix) as tmp:
        save_file(out, str(tmp))
        os.chmod(tmp, 0o644)  # save_file recreates the file with its own mode


EVALUATION_FIELDS = ("temperature", "calibration", "fingerprint", "metrics", "conformal")


def evaluation_fields(run_dir: str | Path, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """What a manifest entry records of a run's evaluation (``EVALUATION_FIELDS``): its calibration, the
    fingerprint of its calibration-split predictions, its headline metrics and its prediction-set thresholds."""
    calibration_split = load_run(run_dir, metrics["calibration_split"])
    return {"temperature": metrics["temperature"], "calibration": Calibrator.of_metrics(metrics).artifact_field(),
            "fingerprint": calibration_split.fingerprint(), "metrics": metrics_summary(metrics),
            "conformal": zoo_sets(calibration_split, load_run(run_dir, metrics["split"]))}


def metrics_summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers a manifest entry carries, from a run's ``metrics.json``."""
    band = metrics.get("ece_of_perfect_calibration") or {}
    return {"split": metrics["split"], "n": metrics["n"], "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"], "nll": metrics["nll"], "ece": metrics["ece"],
            "ece_band": [band.get("p05"), band.get("p95")] if band else None,
            "calibration_split": metrics.get("calibration_split"), "train_time_s": metrics.get("train_time_s")}


def read_finished_run(run_dir: str | Path, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.json, metrics.json) of a trained and evaluated run; a one-line error if either is missing."""
    run_dir = Path(run_dir)
    out = []
    for name in ("config.json", "metrics.json"):
        if not (run_dir / name).is_file():
            raise UserError(f"{run_dir}: no {name}; only a trained and evaluated {what} run can be published")
        out.append(json.loads((run_dir / name).read_text(encoding="utf-8")))
    return out[0], out[1]


NO_EFFECT_FLAGS = ("--resume", "--no-progress")  # an exact resume ends where the uninterrupted command would


def as_user_command(command: str) -> str:
    """The command that makes the same result as ``command``: its ``--data`` path written as a user has it
    (``data/<file name>``, see data/README.md), without ``NO_EFFECT_FLAGS``."""
    words = [w for w in shlex.split(command) if w not in NO_EFFECT_FLAGS]
    for i, word in enumerate(words[:-1]):
        if word == "--data":
            words[i + 1] = f"data/{Path(words[i + 1]).name}"
    return shlex.join(words)
