"""Calibrated emotion probabilities from a single image, for the CLI and the dashboard's try-it page.

    from fer_face.landmarks.predict import load_model
    pred = load_model()                      # the shipped default; or load_model("runs/landmarks")
    out = pred.predict_image(pil_image)     # {"probs": (7,) | None, "points": (68, 2) | None, "present", "box", ...}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fer_core import artifact, zoo
from fer_core.calibration import Calibrator
from fer_core.errors import UserError
from fer_face.faces import DEFAULT_DETECTOR, load_image, to_gray
from fer_face.landmarks.extract import Landmarks, landmarks_in_crop, landmarks_in_photo
from fer_face.landmarks.model import MODEL_FILE, LandmarkModel

BRANCH = "landmarks"
MODES = ("auto", "photo", "crop")
CROP_MAX_SIDE = 128  # in "auto" mode an image this small is a face crop (FER2013 style), larger ones are photos


def find_landmarks(image: Image.Image | np.ndarray, mode: str = "auto",
                   detector: str = DEFAULT_DETECTOR) -> tuple[Landmarks, str]:
    """Landmarks of the face in ``image`` and the mode used ('photo' or 'crop').

    ``crop``: the image is a face crop, the whole image is the face box (as for FER2013 in training);
    ``photo``: the most confident face found by ``detector`` (one of ``fer_face.faces.DETECTORS``);
    ``auto``: ``crop`` for images of at most CROP_MAX_SIDE px (no detector finds faces reliably at that size),
    else ``photo``.
    """
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    gray = to_gray(image)
    if mode == "auto":
        mode = "crop" if max(gray.shape) <= CROP_MAX_SIDE else "photo"
    if mode == "crop":
        return landmarks_in_crop(gray), "crop"
    return landmarks_in_photo(gray, detector=detector), "photo"


class LandmarkPredictor:
    """A calibrated landmark classifier (a published model or a run directory) ready for single images."""

    def __init__(self, model: LandmarkModel, *, name: str, calibrator: Calibrator, fingerprint: str, source: str):
        self.model, self.name, self.calibrator = model, name, calibrator
        self.fingerprint, self.source = fingerprint, source
        self.label_space = tuple(model.label_space)
        self.branch = f"{BRANCH}/{name}"

    @classmethod
    def from_run(cls, run_dir: str | Path) -> "LandmarkPredictor":
        run_dir = Path(run_dir)
        model = LandmarkModel.load(run_dir / MODEL_FILE)
        metrics_path = run_dir / "metrics.json"
        if not metrics_path.is_file():
            raise UserError(f"{run_dir}: run has no metrics.json (not evaluated); run 'fer landmarks evaluate'")
        metrics = json.loads(metrics_path.read_text())
        return cls(model, name=run_dir.name, calibrator=Calibrator.of_metrics(metrics),
                   fingerprint=artifact.load_run(run_dir, metrics["calibration_split"]).fingerprint(), source=str(run_dir))

    @classmethod
    def from_zoo(cls, entry: zoo.ZooModel, weights: str | Path | None = None,
                 manifest: zoo.Manifest | None = None) -> "LandmarkPredictor":
        path = zoo.model_file(manifest or zoo.load_manifest(), entry, weights)
        model = LandmarkModel.from_parts(entry.config, zoo.read_tensors(path), str(path))
        return cls(model, name=entry.name, calibrator=entry.calibrator, fingerprint=entry.fingerprint, source=str(path))

    def predict_points(self, points: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probabilities (C,) for one landmark set (68, 2) in pixel coordinates of the grey
        image ``gray`` (needed by a model with the ``aligned_hog`` feature group)."""
        return self.calibrator.probs(self.logits_points(points, gray))[0]

    def logits_points(self, points: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
        """Uncalibrated logits (1, C) of one landmark set (see ``predict_points``)."""
        return self.model.logits(np.asarray(points, np.float64)[None], None if gray is None else [gray])

    def predict_image(self, image: Image.Image | np.ndarray, mode: str = "auto") -> dict[str, Any]:
        gray = to_gray(image)
        lm, used = find_landmarks(gray, mode)
        probs = fusion_input = logits = None
        if lm.present:
            z = self.logits_points(lm.points, gray)
            if np.isfinite(z).all():
                logits, probs, fusion_input = z[0], self.calibrator.probs(z)[0], self.calibrator.smooth_probs(z)[0]
        return {
            "probs": probs,
            "fusion_input": fusion_input,  # what a fusion combines (Calibrator.smooth_probs)
            "logits": logits,
            "points": lm.points if probs is not None else None,
            "present": probs is not None,
            "box": lm.box,
            "score": lm.score,  # face detector's confidence (photos), None for crops
            "reason": None if probs is not None else (lm.reason or "nan"),  # why there is no prediction
            "mode": used,
            "label_space": self.label_space,
        }

    def predict_file(self, path: str | Path, mode: str = "auto") -> dict[str, Any]:
        return self.predict_image(load_image(path), mode)


def list_models() -> list[str]:
    """Published landmark models (``load_model(name)``)."""
    return zoo.load_manifest().names(BRANCH)


def load_model(name_or_run: str | Path | None = None, *, weights: str | Path | None = None) -> LandmarkPredictor:
    """A published landmark model by name (default: the shipped default), or a run directory you trained."""
    manifest = zoo.load_manifest()
    entry = manifest.named(BRANCH, name_or_run)
    return LandmarkPredictor.from_zoo(entry, weights, manifest) if entry else LandmarkPredictor.from_run(name_or_run)
