"""Fused, calibrated predictions for the faces in a photo: face appearance + landmarks + their fusion.

    from ensemble.photo import PhotoPredictor
    predictor = PhotoPredictor.load()                  # the shipped models and fusion, offline
    for face in predictor.predict("photo.jpg"):        # the most confident face (all_faces=True: every face)
        print(face.label, face.fused, face.box)

Both branches see the same face: the detector's most confident box, turned so its eyes are level when the head
leans (``fer_face.level``) and cropped to 48x48 as in FER2013; the landmarks are fitted on that crop (as in
training) and mapped back to the photo for display. A fusion is used
only when every member it was fit on is loaded as the exact run it names (``FittedFusion.member_for``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fer_core import zoo
from fer_core.conformal import check_level, run_sets, set_labels
from fer_core.errors import UserError
from fer_face import predict as face_predict
from fer_face.faces import DEFAULT_DETECTOR, crop_to_image, load_image, to_gray
from fer_face.landmarks import predict as landmark_predict
from fer_face.landmarks.predict import LandmarkPredictor
from fer_face.predict import FaceCrop, FaceModel, face_crops

from ensemble.fusion import FittedFusion

NONE = "none"  # --landmarks none / --fusion none


@dataclass
class FusedFace:
    """One face: its box and detector score, each branch's calibrated probabilities and the fused ones."""

    index: int
    box: tuple[int, int, int, int] | None
    detector_score: float | None
    branches: dict[str, dict[str, float] | None]  # branch id -> probabilities (None: no prediction)
    fused: dict[str, float] | None  # None: no fusion loaded
    label: str  # top label of the fused probabilities, else of the face branch
    points: np.ndarray | None = field(default=None, repr=False)  # (68, 2) landmarks in photo pixels
    prediction_set: list[str] | None = None  # labels of the conformal set at the coverage asked for, most probable first
    level_degrees: float = 0.0  # how far the face was turned to level its eyes (fer_face.level)

    @property
    def probs(self) -> dict[str, float]:
        return self.fused if self.fused is not None else next(p for p in self.branches.values() if p is not None)

    def as_dict(self) -> dict[str, Any]:
        rounded = lambda p: None if p is None else {k: round(v, 6) for k, v in p.items()}  # noqa: E731
        return {"face": self.index, "box": self.box,
                "detector_score": None if self.detector_score is None else round(self.detector_score, 4),
                "level_degrees": round(self.level_degrees, 1), "label": self.label,
                "confidence": round(self.probs[self.label], 6), "fused": rounded(self.fused),
                "branches": {k: rounded(v) for k, v in self.branches.items()},
                **({} if self.prediction_set is None else {"prediction_set": self.prediction_set})}


class PhotoPredictor:
    def __init__(self, face: FaceModel, landmarks: LandmarkPredictor | None = None, fusion: FittedFusion | None = None,
                 fusion_name: str | None = None, fusion_conformal: dict[str, Any] | None = None):
        self.face, self.landmarks, self.fusion, self.fusion_name = face, landmarks, fusion, fusion_name
        self.fusion_conformal = fusion_conformal
        self.members: dict[str, str] = {}
        if fusion is not None:
            self.members = fusion.member_for(self.fingerprints())
            missing = [n for n in fusion.names if n not in self.members]
            if missing:
                raise UserError(f"fusion {fusion_name}: its member(s) {', '.join(missing)} are not loaded as the exact "
                                f"run(s) it was fit on (loaded: {', '.join(self.fingerprints())}); load those models "
                                "or use --fusion none")

    def fingerprints(self) -> dict[str, str]:
        out = {self.face.branch: self.face.fingerprint}
        if self.landmarks is not None:
            out[self.landmarks.branch] = self.landmarks.fingerprint
        return out

    @classmethod
    def load(cls, face: str | Path | None = None, landmarks: str | Path | None = None,
             fusion: str | Path | None = None, *, face_weights: str | Path | None = None,
             device: str = "auto") -> "PhotoPredictor":
        """Models by published name or run directory; None takes the shipped default, ``"none"`` leaves one out.

        The default fusion is the shipped one when the face and landmark models are its members; with other
        models and no ``fusion`` named, the branches are reported without a fusion.
        """
        face_model = face_predict.load_model(face, weights=face_weights, device=device)
        lm_model = None if str(landmarks) == NONE else landmark_predict.load_model(landmarks)
        if str(fusion) == NONE:
            return cls(face_model, lm_model)
        if fusion is not None:
            return cls(face_model, lm_model, *load_fusion(fusion))
        without_fusion = cls(face_model, lm_model)
        shipped = zoo.load_manifest().default_fusion()
        if shipped is None:
            return without_fusion
        loaded, name, conformal = load_fusion(shipped.name)
        if len(loaded.member_for(without_fusion.fingerprints())) < len(loaded.names):
            return without_fusion
        return cls(face_model, lm_model, loaded, name, conformal)

    def predict(self, image: str | Path | Image.Image | np.ndarray, *, all_faces: bool = False,
                detector: str = DEFAULT_DETECTOR, min_face: int | None = None,
                coverage: float | None = None, level: bool = True) -> list[FusedFace]:
        """Every face (``all_faces``) or the most confident one; an empty list when no face is found.
        ``min_face``: the smallest face side to look for, in px of the photo (larger: faster detection).
        ``coverage`` (one of ``fer_core.conformal.ZOO_LEVELS``): also each face's conformal prediction set
        (``FusedFace.prediction_set``). ``level``: level each face's eyes before it is scored (``fer_face.level``)."""
        if coverage is not None:
            self.set_thresholds(coverage)  # refused before any work
        if isinstance(image, (str, Path)):
            image = load_image(image)
        gray = to_gray(image)
        faces = self.score_faces(face_crops(gray, all_faces=all_faces, detector=detector, min_face=min_face,
                                            level=level))
        if coverage is not None:
            for face in faces:
                face.prediction_set = set_labels(face.probs, self.set_thresholds(coverage), coverage)
        return faces

    def set_thresholds(self, coverage: float) -> dict[str, Any]:
        """The conformal record of the output faces are labelled by (the fusion, else the face model), checked to
        hold thresholds for ``coverage``."""
        check_level(coverage)
        record, whose = ((self.fusion_conformal, f"fusion {self.fusion_name}") if self.fusion is not None
                         else (self.face.conformal, f"face model {self.face.name}"))
        if record is None:
            raise UserError(f"{whose} records no prediction-set thresholds; publish it again (fer models refresh / "
                            "add-fusion) or pass its run directory")
        return record

    def score_faces(self, faces: list[FaceCrop]) -> list[FusedFace]:
        """Each face crop through the face model in one batch, the landmark model one by one and the fusion."""
        if not faces:
            return []
        face_logits = self.face.logits_crops(np.stack([face.pixels for face in faces]))
        face_probs, face_inputs = self.face.calibrator.probs(face_logits), self.face.calibrator.smooth_probs(face_logits)
        out = []
        for i, (face, p_face, q_face) in enumerate(zip(faces, face_probs, face_inputs)):
            crop, det = face.pixels, face.detection
            branches: dict[str, np.ndarray | None] = {self.face.branch: p_face}
            fusion_inputs: dict[str, np.ndarray | None] = {self.face.branch: q_face}
            points = None
            if self.landmarks is not None:
                lm = self.landmarks.predict_image(crop, mode="crop")
                branches[self.landmarks.branch] = lm["probs"]
                fusion_inputs[self.landmarks.branch] = lm["fusion_input"]
                if lm["points"] is not None and det is not None:
                    points = crop_to_image(lm["points"], det.box, crop.shape[0], degrees=face.level_degrees)
            fused = None
            if self.fusion is not None:
                by_member = {name: None if fusion_inputs[key] is None else np.asarray(fusion_inputs[key])[None]
                             for name, key in self.members.items()}
                fused = dict(zip(self.fusion.label_space, map(float, self.fusion.fuse(by_member)[0])))
            named = {k: None if v is None else dict(zip(self._labels(k), map(float, v))) for k, v in branches.items()}
            top = fused if fused is not None else named[self.face.branch]
            out.append(FusedFace(i, None if det is None else tuple(det.box), None if det is None else det.score,
                                 named, fused, max(top, key=top.get), points, level_degrees=face.level_degrees))
        return out

    def _labels(self, branch: str) -> tuple[str, ...]:
        return self.face.label_space if branch == self.face.branch else self.landmarks.label_space


def load_fusion(name_or_dir: str | Path) -> tuple[FittedFusion, str, dict[str, Any] | None]:
    """A published fusion by name (its file checked against the manifest) or a fusion run directory, with its
    name and its prediction-set thresholds (``fer_core.conformal.zoo_sets``; None when none are recorded)."""
    manifest = zoo.load_manifest()
    published = {f.name: f for f in manifest.fusions}
    if str(name_or_dir) in published:
        entry = published[str(name_or_dir)]
        path = zoo.verified_file(manifest.root / entry.file, entry.sha256, f"fusion {entry.name!r}")
        return (FittedFusion.from_json(json.loads(path.read_text(encoding="utf-8")), str(path)), entry.name,
                entry.conformal)
    fusion = FittedFusion.load(name_or_dir)
    metrics_path = Path(name_or_dir) / "metrics.json"
    if not metrics_path.is_file():
        return fusion, str(name_or_dir), None
    return fusion, str(name_or_dir), run_sets(name_or_dir, json.loads(metrics_path.read_text(encoding="utf-8")))
