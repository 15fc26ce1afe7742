"""Face-appearance models ready to use: ``load_model`` / ``list_models`` and ``FaceModel.predict``.

    from fer_face import load_model, list_models
    list_models()                          # published face models, e.g. ['vgg48_slim']
    model = load_model()                   # the shipped default, offline, calibrated
    result = model.predict("photo.jpg")    # FacePrediction(label, probs, box, score)
    everyone = model.predict("group.jpg", all_faces=True)
    mine = load_model("runs/my_run")       # a run directory you trained works the same way

The same object serves ``fer face predict``, ``fer predict`` and the dashboard.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from fer_core import artifact, recipe, zoo
from fer_core.calibration import Calibrator
from fer_core.conformal import run_sets
from fer_core.device import pick_device
from fer_core.errors import DataError, UserError
from fer_core.recipe import AT_LEAST_ONE
from fer_core.checkpoint import load_checkpoint
from fer_face.config import with_defaults
from fer_face.data.dataset import IMAGE_SIZE
from fer_face.faces import DEFAULT_DETECTOR, Detection, crop_face, detect_faces, load_image, to_gray
from fer_face.inference import fastest_for_cpu, predict_logits, tta_settings
from fer_face.level import level_face
from fer_face.models import model_from_config

BRANCH = "face"
CROP_MAX_SIDE = 64  # images this small are taken as face crops already (FER2013 style), no detection


@dataclass
class FacePrediction:
    """One face: calibrated probabilities over ``label_space``, its box and detector score (None for a crop)."""

    label: str
    probs: dict[str, float]
    box: tuple[int, int, int, int] | None
    score: float | None
    crop: np.ndarray = field(repr=False)  # the (48, 48) uint8 face the network saw
    level_degrees: float = 0.0  # how far the face was turned to level its eyes (fer_face.level)

    @property
    def confidence(self) -> float:
        return self.probs[self.label]

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": round(self.confidence, 6), "box": self.box,
                "detector_score": None if self.score is None else round(self.score, 4),
                "level_degrees": round(self.level_degrees, 1),
                "probs": {k: round(v, 6) for k, v in self.probs.items()}}


class FaceCrop(NamedTuple):
    """A face as the networks see it: (48, 48) uint8 pixels, the detection it was cut from (None: the image was a
    crop already) and the angle it was turned by to level its eyes (``crop_face``'s ``degrees``)."""

    pixels: np.ndarray
    detection: Detection | None
    level_degrees: float = 0.0


def face_crops(image: Image.Image | np.ndarray, *, all_faces: bool = False, detector: str = DEFAULT_DETECTOR,
               min_face: int | None = None, level: bool = True) -> list[FaceCrop]:
    """The face crops of an image, most confident face first.

    An image of at most CROP_MAX_SIDE px is a face crop already (FER2013 style) and is used whole, as it stands.
    Without ``all_faces`` only the most confident face is returned. No face: an empty list. ``min_face``: see
    ``fer_face.faces.detection_scale``. ``level``: turn each detected face so its eyes are level
    (``fer_face.level``); off, faces are cut as they stand.
    """
    gray = to_gray(image)
    if max(gray.shape) <= CROP_MAX_SIDE:
        crop = np.asarray(Image.fromarray(gray).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))
        return [FaceCrop(crop, None)]
    found = detect_faces(gray, detector, min_face)
    if not all_faces:
        found = found[:1]
    if not level:
        return [FaceCrop(crop_face(gray, d.box, size=IMAGE_SIZE), d) for d in found]
    crops = []
    for d in found:
        pixels, degrees = level_face(gray, d.box, IMAGE_SIZE)
        crops.append(FaceCrop(pixels, d, degrees))
    return crops


# Choosing between the frozen graph and eager mode (trace, freeze, time both: about half a second on 2 cores) pays
# for itself over a video's or a folder's faces, not over one photo's (the frozen vgg48_slim saves ~4 ms a face).
CHOOSE_GRAPH_AFTER_FACES = 128


class FaceModel:
    """A calibrated face-appearance network: a published model or a run directory. On CPU the network runs eagerly
    for its first ``CHOOSE_GRAPH_AFTER_FACES`` faces, then as whichever of frozen and eager answers faster here."""

    def __init__(self, network: torch.nn.Module, *, name: str, label_space: tuple[str, ...], calibrator: Calibrator,
                 views: dict[str, Any], fingerprint: str, source: str, device: torch.device,
                 conformal: dict[str, Any] | None = None):
        self.network = network.to(memory_format=torch.channels_last) if device.type == "cpu" else network
        self.faces_until_graph_choice = CHOOSE_GRAPH_AFTER_FACES if device.type == "cpu" else None
        self.name, self.label_space, self.calibrator = name, tuple(label_space), calibrator
        self.views, self.fingerprint, self.source, self.device = views, fingerprint, source, device
        self.conformal = conformal  # prediction-set thresholds (fer_core.conformal.zoo_sets); None: none recorded
        self.branch = f"{BRANCH}/{name}"

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> "FaceModel":
        run_dir = Path(run_dir)
        config_path, metrics_path = run_dir / "config.json", run_dir / "metrics.json"
        if not config_path.is_file():
            raise UserError(f"{run_dir}: not a face run directory (no config.json) and not a published model name")
        if not metrics_path.is_file():
            raise UserError(f"{run_dir}: no metrics.json; train or evaluate the run before predicting")
        saved, metrics = json.loads(config_path.read_text()), json.loads(metrics_path.read_text())
        cfg = with_defaults(saved["config"])
        ckpt = load_checkpoint(run_dir / "best.pt", backbone=cfg["model"]["backbone"], num_classes=saved["num_classes"])
        dev = pick_device(device)
        network = model_from_config({**cfg["model"], "pretrained": False}, saved["num_classes"])
        network.load_state_dict(ckpt["model"])
        calibration_split = artifact.load_run(run_dir, metrics["calibration_split"])
        return cls(network.to(dev).eval(), name=cfg["model"]["backbone"], label_space=tuple(metrics["label_space"]),
                   calibrator=Calibrator.of_metrics(metrics), views=tta_settings(cfg["eval"]),
                   fingerprint=calibration_split.fingerprint(),
                   source=str(run_dir), device=dev, conformal=run_sets(run_dir, metrics, calibration_split))

    @classmethod
    def from_zoo(cls, entry: zoo.ZooModel, weights: str | Path | None = None, device: str = "auto",
                 manifest: zoo.Manifest | None = None) -> "FaceModel":
        manifest = manifest or zoo.load_manifest()
        path = zoo.model_file(manifest, entry, weights)
        dev = pick_device(device)
        network = model_from_config({**entry.config["model"], "pretrained": False}, len(entry.label_space))
        network.load_state_dict(zoo.read_tensors(path))
        return cls(network.to(dev).eval(), name=entry.name, label_space=entry.label_space,
                   calibrator=entry.calibrator, views=tta_settings(with_defaults(entry.config)["eval"]),
                   fingerprint=entry.fingerprint, source=str(path), device=dev, conformal=entry.conformal)

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (N, C) for (N, 48, 48) uint8 face crops."""
        return self.calibrator.probs(self.logits_crops(crops))

    def logits_crops(self, crops: np.ndarray) -> np.ndarray:
        """Uncalibrated logits (N, C), test-time views averaged, for (N, 48, 48) uint8 face crops."""
        if self.faces_until_graph_choice is not None:
            self.faces_until_graph_choice -= len(crops)
            if self.faces_until_graph_choice <= 0:
                self.network, self.faces_until_graph_choice = fastest_for_cpu(self.network), None
        return predict_logits(self.network, np.asarray(crops, np.uint8), device=self.device, **self.views)

    def predict(self, image: str | Path | Image.Image | np.ndarray, *, all_faces: bool = False,
                detector: str = DEFAULT_DETECTOR, min_face: int | None = None, level: bool = True
                ) -> FacePrediction | list[FacePrediction] | None:
        """The most confident face's prediction (None: no face found); with ``all_faces`` a list of every face.
        ``min_face``: the smallest face side to look for, in px of the photo (larger: faster detection).
        ``level``: level each face's eyes before it is scored (``fer_face.level``)."""
        if isinstance(image, (str, Path)):
            image = load_image(image)
        faces = face_crops(image, all_faces=all_faces, detector=detector, min_face=min_face, level=level)
        results = []
        if faces:
            probs = self.predict_crops(np.stack([face.pixels for face in faces]))
            for face, p in zip(faces, probs):
                det = face.detection
                results.append(FacePrediction(
                    label=self.label_space[int(p.argmax())], probs=dict(zip(self.label_space, map(float, p))),
                    box=None if det is None else tuple(det.box), score=None if det is None else det.score,
                    crop=face.pixels, level_degrees=face.level_degrees))
        return results if all_faces else (results[0] if results else None)


def list_models() -> list[str]:
    """Published face models (``load_model(name)``); a model marked not shipped needs ``weights=``."""
    return zoo.load_manifest().names(BRANCH)


def load_model(name_or_run: str | Path | None = None, *, weights: str | Path | None = None,
               device: str = "auto") -> FaceModel:
    """A published face model by name (default: the shipped default), or a run directory you trained."""
    manifest = zoo.load_manifest()
    entry = manifest.named(BRANCH, name_or_run)
    if entry is not None:
        return FaceModel.from_zoo(entry, weights, device, manifest)
    if weights is not None:
        raise UserError(f"--weights goes with a published model name ({', '.join(list_models())}), not a run directory")
    return FaceModel.from_run(name_or_run, device)


def predict_cli(args: argparse.Namespace) -> int:
    recipe.check_flags(args, {"--min-face": AT_LEAST_ONE})
    model = load_model(args.model, weights=args.weights, device=args.device)
    rows, failed = [], 0
    for path in args.images:
        try:
            found = model.predict(path, all_faces=True, detector=args.detector, min_face=args.min_face,
                                  level=not args.no_level)
        except DataError as e:
            msg = str(e) if str(e).startswith(str(path)) else f"{path}: {e}"
            print(f"error: {msg}", file=sys.stderr)
            rows.append({"file": str(path), "error": msg})
            failed += 1
            continue
        if not found:
            print(f"warning: {path}: no face found; use a frontal face photo or a 48x48 face crop", file=sys.stderr)
            rows.append({"file": str(path), "error": "no face found"})
            continue
        for i, face in enumerate(found if args.all_faces else found[:1]):
            rows.append({"file": str(path), "face": i, **face.as_dict()})
    if args.json:
        print(json.dumps({"model": model.name, "source": model.source, "temperature": model.calibrator.temperature,
                          "calibration": model.calibrator.kind,
                          "results": rows}, indent=2))
    else:
        names = model.label_space
        print(f"{'file':<28}{'face':>5}{'box':>22}{'score':>7}{'label':>10}" + "".join(f"{n[:8]:>9}" for n in names))
        for r in rows:
            if "error" in r:
                continue
            box = "crop" if r["box"] is None else ",".join(map(str, r["box"]))
            score = "" if r["detector_score"] is None else f"{r['detector_score']:.2f}"
            print(f"{Path(r['file']).name[:27]:<28}{r['face']:>5}{box:>22}{score:>7}{r['label']:>10}"
                  + "".join(f"{r['probs'][n]:>9.3f}" for n in names))
    return 2 if failed else 0
