"""Fit a fusion on the fit split, calibrate it, and apply it (``FittedFusion``).

Protocol: the strategy's parameters are fit on the fit split's labelled rows; the fused scores of
the fit split itself are *cross-fitted* (each fold scored by a model fit on the other folds), so the
fit-split artifact a fusion writes is honest held-out data for whatever is calibrated on it next
(an outer fusion, conformal prediction sets). The calibrator (``fer_core.calibration``: a temperature, maybe with
a class bias or isotonic maps) is fit on those cross-fitted scores. The eval split is only ever scored, never fit.
Members enter as their ``Predictions.fusion_input``.

``fusion.json`` holds everything needed to apply a fitted fusion to new samples (no pickles)::

    fusion = FittedFusion.load("results/fer2013/fusion-vgg48_slim-landmarks")
    probs = fusion.fuse({"face/vgg48_slim": p_face, "landmarks/mlp": None})
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from fer_core.calibration import CALIBRATION_CHOICES, Calibrator, choose_calibrator
from fer_core.errors import ArtifactError, UserError

from ensemble.inputs import AlignedSplit, FusionInputs
from ensemble.labels import LabelMapping
from ensemble.methods import METHODS, FusionMethod, make_method

FUSION_FORMAT, FUSION_VERSION = "fer-fusion", 1
FUSION_FILE = "fusion.json"
CROSS_FIT_FOLDS = 5


@dataclass
class FittedFusion:
    method: FusionMethod
    calibrator: Calibrator  # fused scores -> probabilities, fit on the cross-fitted fit-split scores
    branches: list[dict[str, Any]]  # name, run_dir, modality, branch, label_space (the branch's own)
    label_space: tuple[str, ...]
    mappings: dict[str, LabelMapping]
    fit_split: str
    eval_split: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def temperature(self) -> float:
        return self.calibrator.temperature

    @property
    def names(self) -> list[str]:
        return [b["name"] for b in self.branches]

    def member_for(self, fingerprints: Mapping[str, str]) -> dict[str, str]:
        """Fusion branch name -> the key of ``fingerprints`` (e.g. a loaded model) that is exactly that member.

        A member is matched only by the fingerprint of the predictions the fusion was fit on, never by name:
        two runs of one backbone, or two landmark models, are different members. Members without a match
        are left out; a fusion saved without fingerprints matches nothing.
        """
        by_print = {fp: key for key, fp in fingerprints.items()}
        return {b["name"]: by_print[b["fingerprint"]] for b in self.branches if b.get("fingerprint") in by_print}

    def scores(self, data: AlignedSplit) -> np.ndarray:
        """Uncalibrated fused log-scores (N, C) of aligned target-space probabilities; NaN rows: none present."""
        return self.method.scores(data.probs, data.present)

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        return self.calibrator.probs(scores)

    def fuse(self, probs_by_branch: Mapping[str, np.ndarray | None]) -> np.ndarray:
        """Fused calibrated probabilities (N, C) over ``label_space`` for new samples.

        ``probs_by_branch`` maps branch names (``self.names``) to (N, C_b) probabilities in that branch's
        own label space (``branches[i]["label_space"]``, its artifact's column order). A branch left out,
        given as None, or given a NaN row is absent for those samples; rows with no branch present come
        back as NaN (never guessed).
        """
        unknown = set(probs_by_branch) - set(self.names)
        if unknown:
            raise UserError(f"unknown branch names {sorted(unknown)}; this fusion expects {self.names}")
        given = [np.atleast_2d(np.asarray(v, np.float64)) for v in probs_by_branch.values() if v is not None]
        if not given:
            raise UserError("fuse() needs probabilities from at least one branch")
        n = len(given[0])
        b, c = len(self.branches), len(self.label_space)
        probs, present = np.full((b, n, c), np.nan), np.zeros((b, n), bool)
        for k, info in enumerate(self.branches):
            p = probs_by_branch.get(info["name"])
            if p is None:
                continue
            p = np.atleast_2d(np.asarray(p, np.float64))
            if p.shape != (n, len(info["label_space"])):
                raise UserError(
                    f"branch {info['name']!r}: probabilities of shape {p.shape}, expected ({n}, {len(info['label_space'])}) "
                    f"over {info['label_space']}"
                )
            present[k] = np.isfinite(p).all(1)
            probs[k] = self.mappings[info["name"]].map_probs(p)
        return self.calibrate(self.method.scores(probs, present))

    # -- persistence ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        weights = self.method.weights(self.names)
        out = {
            "format": FUSION_FORMAT,
            "version": FUSION_VERSION,
            "method": self.method.name,
            "branches": self.branches,
            "weights": weights,
            "weights_meaning": self.method.weights_meaning,
            "temperature": float(self.temperature),
            "calibration": self.calibrator.to_json(),
            "fit_split": self.fit_split,
            "eval_split": self.eval_split,
            "label_space": list(self.label_space),
            "label_maps": {n: m.to_json() for n, m in self.mappings.items()},
            "params": self.method.params(),
            **self.info,
        }
        if self.method.name == "stacking":
            out["stacking"] = out["params"]
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: str = FUSION_FILE) -> "FittedFusion":
        if not isinstance(obj, dict) or obj.get("format") != FUSION_FORMAT:
            raise ArtifactError(f"{source}: not a {FUSION_FORMAT} file")
        if obj.get("version") != FUSION_VERSION:
            raise ArtifactError(f"{source}: unknown {FUSION_FORMAT} version {obj.get('version')!r}; this release reads {FUSION_VERSION}")
        if obj.get("method") not in METHODS:
            raise ArtifactError(f"{source}: unknown fusion method {obj.get('method')!r}")
        try:
            target = tuple(obj["label_space"])
            mappings = {b["name"]: LabelMapping.from_json(obj["label_maps"][b["name"]], b["label_space"], target)
                        for b in obj["branches"]}
            known = {"format", "version", "method", "branches", "weights", "weights_meaning", "temperature", "fit_split",
                     "eval_split", "label_space", "label_maps", "params", "stacking", "calibration"}
            # files written before calibrations other than the temperature existed have no "calibration"
            calibrator = Calibrator.from_json(float(obj["temperature"]), obj.get("calibration"), len(target))
            return cls(METHODS[obj["method"]].from_params(obj["params"]), calibrator, list(obj["branches"]),
                       target, mappings, obj["fit_split"], obj["eval_split"],
                       {k: v for k, v in obj.items() if k not in known})
        except (KeyError, TypeError, ValueError) as e:
            raise ArtifactError(f"{source}: malformed fusion file ({e.__class__.__name__}: {e})") from None

    @classmethod
    def load(cls, run_dir: str | Path) -> "FittedFusion":
        path = Path(run_dir) / FUSION_FILE
        if not path.is_file():
            raise ArtifactError(f"{run_dir}: not a fusion run directory (no {FUSION_FILE})")
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ArtifactError(f"{path}: unreadable ({e})") from None
        return cls.from_json(obj, str(path))


@dataclass
class FitResult:
    fusion: FittedFusion
    fit_scores: np.ndarray  # cross-fitted where the method has parameters
    eval_scores: np.ndarray
    notes: list[str]
    fit_probs: np.ndarray | None = None  # calibrated probabilities of fit_rows: cross-fitted beyond a temperature


def fit_rows(split: AlignedSplit) -> np.ndarray:
    """Indices of the rows a fusion is fit (and judged) on: labelled, with at least one branch present."""
    return np.flatnonzero((split.labels >= 0) & split.any_present)


def fit_fusion(inputs: FusionInputs, method: str, *, seed: int = 0, cross_fit_folds: int = CROSS_FIT_FOLDS,
               calibration: str = "temperature") -> FitResult:
    """Fit ``method`` on ``inputs.fit``, calibrate on cross-fitted fit-split scores (``choose_calibrator``), score
    ``inputs.eval``."""
    fit = inputs.fit
    rows = fit_rows(fit)
    y = fit.labels[rows]
    if len(np.unique(y)) < 2:
        raise UserError(f"{fit.split}: the labelled rows hold a single class; a fusion cannot be fit on them")
    model = make_method(method).fit(fit.probs[:, rows], fit.present[:, rows], y, seed=seed)
    fit_scores = model.scores(fit.probs, fit.present)
    notes = []
    counts = np.bincount(y)
    folds = min(cross_fit_folds, int(counts[counts > 0].min()))
    used_folds = 0
    if model.has_parameters and cross_fit_folds >= 2:
        if folds < 2:
            notes.append(f"{fit.split}: a class has a single labelled sample; fit-split scores are in-sample, not cross-fitted")
        else:
            from sklearn.model_selection import StratifiedKFold

            used_folds = folds
            for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, y):
                part = model.fixed_copy().fit(fit.probs[:, rows[train]], fit.present[:, rows[train]], y[train], seed=seed)
                fit_scores[rows[held]] = part.scores(fit.probs[:, rows[held]], fit.present[:, rows[held]])
    if calibration not in CALIBRATION_CHOICES:
        raise UserError(f"--calibration {calibration}: choose from {', '.join(CALIBRATION_CHOICES)}")
    calibrator, fit_probs, chosen = choose_calibrator(fit_scores[rows], y, calibration, seed=seed,
                                                      folds=folds if cross_fit_folds >= 2 else 0)
    info = {"calibrated_with": calibrator.kind, **({"calibration_compared": chosen["compared"]} if "compared" in chosen else {})}
    fusion = FittedFusion(
        method=model, calibrator=calibrator, branches=[b.info(fit.split) for b in inputs.branches],
        label_space=inputs.label_space, mappings={b.name: b.mapping for b in inputs.branches},
        fit_split=fit.split, eval_split=inputs.eval.split,
        info={"cross_fit_folds": used_folds, "seed": seed, "n_fit": int(len(rows)), **info},
    )
    return FitResult(fusion, fit_scores, fusion.scores(inputs.eval), notes, fit_probs)
