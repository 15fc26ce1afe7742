"""Calibrated emotion probabilities from a single image, for the CLI and the dashboard's try-it page.

    from fer_face.landmarks.predict import LandmarkPredictor
    pred = LandmarkPredictor("results/fer2013/landmarks")
    out = pred.predict_image(pil_image)     # {"probs": (7,) | None, "points": (68, 2) | None, "present", "box", ...}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fer_core.calibration import calibrated_probs
from fer_core.errors import UserError
from fer_face.faces import load_image, to_gray
from fer_face.landmarks.extract import Landmarks, landmarks_in_crop, landmarks_in_photo
from fer_face.landmarks.model import MODEL_FILE, LandmarkModel

MODES = ("auto", "photo", "crop")
CROP_MAX_SIDE = 128  # in "auto" mode an image this small is a face crop (FER2013 style), larger ones are photos


def find_landmarks(image: Image.Image | np.ndarray, mode: str = "auto") -> tuple[Landmarks, str]:
    """Landmarks of the face in ``image`` and the mode used ('photo' or 'crop').

    ``crop``: the image is a face crop, the whole image is the face box (as for FER2013 in training);
    ``photo``: the largest face found by the project's detector; ``auto``: ``crop`` for images of at most
    CROP_MAX_SIDE px (no detector finds faces reliably at that size), else ``photo``.
    """
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    gray = to_gray(image)
    if mode == "auto":
        mode = "crop" if max(gray.shape) <= CROP_MAX_SIDE else "photo"
    if mode == "crop":
        return landmarks_in_crop(gray), "crop"
    return landmarks_in_photo(gray), "photo"


class LandmarkPredictor:
    """A trained landmark run (``model.pt`` + the temperature in ``metrics.json``) ready for single images."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.model = LandmarkModel.load(self.run_dir / MODEL_FILE)
        metrics_path = self.run_dir / "metrics.json"
        if not metrics_path.is_file():
            raise UserError(f"{self.run_dir}: run has no metrics.json (not evaluated); run 'fer landmarks evaluate'")
        self.temperature = float(json.loads(metrics_path.read_text())["temperature"])
        self.label_space = tuple(self.model.label_space)

    def predict_points(self, points: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probabilities (C,) for one landmark set (68, 2) in pixel coordinates of the grey
        image ``gray`` (needed by a model with the ``aligned_hog`` feature group)."""
        z = self.model.logits(np.asarray(points, np.float64)[None], None if gray is None else [gray])
        return calibrated_probs(z, self.temperature)[0]

    def predict_image(self, image: Image.Image | np.ndarray, mode: str = "auto") -> dict[str, Any]:
        gray = to_gray(image)
        lm, used = find_landmarks(gray, mode)
        probs = None
        if lm.present:
            p = self.predict_points(lm.points, gray)
            probs = p if np.isfinite(p).all() else None
        return {
            "probs": probs,
            "points": lm.points if probs is not None else None,
            "present": probs is not None,
            "box": lm.box,
            "reason": None if probs is not None else (lm.reason or "nan"),  # why there is no prediction
            "mode": used,
            "label_space": self.label_space,
        }

    def predict_file(self, path: str | Path, mode: str = "auto") -> dict[str, Any]:
        return self.predict_image(load_image(path), mode)
