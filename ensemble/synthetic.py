"""Synthetic branches with known structure, for tests and for trying the ensemble without real runs.

Each branch sees the true class through its own independent noise: ``logits = strength * onehot(y)
+ N(0, 1)`` scaled by an over-confidence factor, then temperature-calibrated on the fit split like
a real branch. ``strength = 0`` is a useless branch; two branches with the same strength are equally
good and conditionally independent, so a good fusion beats both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from fer_core.artifact import Predictions, artifact_path
from fer_core.calibration import calibrated_probs, fit_temperature
from fer_core.labels import FER7

SPLITS = ("PublicTest", "PrivateTest")


def synthetic_samples(n_per_split: Mapping[str, int], n_classes: int = len(FER7), seed: int = 0,
                      class_weights: Sequence[float] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """split -> (ids, labels); ids look like FER2013's (``PublicTest_12.jpg``)."""
    rng = np.random.default_rng(seed)
    p = None if class_weights is None else np.asarray(class_weights, float) / np.sum(class_weights)
    return {s: (np.array([f"{s}_{i}.jpg" for i in range(n)]), rng.choice(n_classes, size=n, p=p))
            for s, n in n_per_split.items()}


def synthetic_branch(samples: Mapping[str, tuple[np.ndarray, np.ndarray]], *, name: str, modality: str,
                     strength: float, seed: int, overconfidence: float = 2.0, missing: float = 0.0,
                     label_space: Sequence[str] = FER7, label_of_class: Sequence[int] | None = None,
                     calibration_split: str | None = "PublicTest", fit_splits: Sequence[str] = ("Training",),
                     dataset: str = "synthetic") -> dict[str, Predictions]:
    """Predictions of one synthetic branch for every split in ``samples``.

    ``label_of_class[k]`` is the column of ``label_space`` that true class ``k`` maps to (default: k);
    extra columns of ``label_space`` receive noise only. ``calibration_split=None`` leaves the branch
    uncalibrated (T = 1): over-confident, as a careless plug-in might be.
    """
    rng = np.random.default_rng(seed)
    c = len(label_space)
    cols = np.arange(len(label_space)) if label_of_class is None else np.asarray(label_of_class)
    logits, present = {}, {}
    for split, (ids, y) in samples.items():
        z = rng.normal(size=(len(y), c))
        z[np.arange(len(y)), cols[y]] += strength
        logits[split] = z * overconfidence
        present[split] = rng.uniform(size=len(y)) >= missing
    t = 1.0
    if calibration_split is not None:
        cal_y = samples[calibration_split][1]
        keep = present[calibration_split]
        t = fit_temperature(logits[calibration_split][keep], cols[cal_y][keep])
    out = {}
    for split, (ids, y) in samples.items():
        probs = calibrated_probs(logits[split], t)
        probs[~present[split]] = np.nan
        z = logits[split].copy()
        z[~present[split]] = np.nan
        out[split] = Predictions(
            ids=ids, labels=cols[y], probs=probs, present=present[split], logits=z, label_space=tuple(label_space),
            branch=name, modality=modality, dataset=dataset, split=split, temperature=t,
            calibration_split=calibration_split, fit_splits=list(fit_splits),
            command=f"ensemble.synthetic.synthetic_branch(name={name!r}, strength={strength}, seed={seed})",
            extra={"synthetic": True, "strength": strength},
        )
    return out


def write_run(run_dir: str | Path, predictions: Mapping[str, Predictions]) -> Path:
    """Write ``predictions/<split>.json`` for each split (a minimal run directory)."""
    for split, p in predictions.items():
        p.save(artifact_path(run_dir, split))
    return Path(run_dir)
