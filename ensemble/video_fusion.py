"""One distribution per time window from the face, landmark and voice probabilities of that window.

Two ways, fixed when the models are loaded:

1. **A fusion with an audio member** (``--fusion DIR|NAME``, e.g. a fusion of face + voice pseudo-pairs such as
   results/ravdess/pseudo-pairs/fusion, see docs/ensemble.md) is applied as it was fit, with
   ``FittedFusion.fuse``, to the window averages of the face and landmark branches and to the voice's window
   probabilities. Its members must be exactly the loaded models, as for photos: matched by the fingerprint the
   fusion records (``FittedFusion.member_for``). A member fit on pseudo-pair artifacts (``fer ensemble pairs``)
   records no model fingerprint of its own; it is identified by the run its artifact was made from
   (``extra.source_run``), whose calibration-split fingerprint is what a model published from that run carries.
2. **Otherwise (the default)** the *face side* (the photo predictor's face/landmark fusion applied to the
   window averages, or the face branch alone when there is none) and the voice are combined by an
   **equal-weight product of experts** of their calibrated probabilities, renormalised over the classes:
   ``p ∝ p_face_side × p_voice`` (the ensemble's ``logpool`` with weights 1 and 1, temperature 1). **This
   default is not fit on paired face + voice data**: it treats the two as independent given the emotion and
   equally reliable, so an overconfident branch dominates. Fit a fusion with an audio member to do better.

Missing modalities, per window: an absent member (no face in the window, silence, no audio stream) contributes
nothing (a factor 1 in a product of experts) and the others decide; a window with no member present gets no
fused probabilities (never guessed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from fer_audio.predict import AudioPredictor
from fer_core import artifact
from fer_core.calibration import Calibrator
from fer_core.errors import UserError
from fer_core.labels import FER7

from ensemble.fusion import FittedFusion
from ensemble.labels import LabelMapping
from ensemble.methods import LogPoolFusion
from ensemble.photo import PhotoPredictor

AUDIO_MODALITY = "audio"
DEFAULT_POOL = "product of experts (equal weights, not fit on paired data)"


def has_audio_member(fusion: FittedFusion) -> bool:
    return any(b.get("modality") == AUDIO_MODALITY for b in fusion.branches)


def product_of_experts(face_side: str, face_labels: tuple[str, ...], voice: str) -> FittedFusion:
    """The default pool as a ``FittedFusion``: logpool with weights (1, 1), temperature 1, voice in FER7."""
    target = tuple(face_labels)
    mappings = {face_side: LabelMapping(target, target, {c: c for c in target}, "identity"),
                voice: LabelMapping(FER7, target, {c: c if c in target else None for c in FER7}, "same names")}
    branches = [{"name": face_side, "modality": "face", "branch": face_side, "label_space": list(target)},
                {"name": voice, "modality": AUDIO_MODALITY, "branch": voice, "label_space": list(FER7)}]
    return FittedFusion(LogPoolFusion([1.0, 1.0]), Calibrator(1.0), branches, target, mappings, fit_split="none",
                        eval_split="none", info={"name": DEFAULT_POOL})


def source_run_fingerprint(member: Mapping[str, Any], split: str) -> str | None:
    """For a member fit on pseudo-pair artifacts: the fingerprint of the run they were made from (the fingerprint
    a model published from that run carries). None when the member is not such an artifact or its files are gone."""
    run_dir = member.get("run_dir")
    if not run_dir:
        return None
    try:
        source = artifact.load_run(run_dir, split).extra.get("source_run")
        if not source:
            return None
        metrics = json.loads((Path(source) / "metrics.json").read_text(encoding="utf-8"))
        return artifact.load_run(source, metrics["calibration_split"]).fingerprint()
    except (UserError, OSError, KeyError, TypeError, ValueError):
        return None


def match_members(fusion: FittedFusion, fingerprints: Mapping[str, str], fusion_name: str) -> dict[str, str]:
    """Fusion member name -> loaded branch id, every member matched exactly, or a UserError."""
    members = fusion.member_for(fingerprints)
    by_print = {fp: key for key, fp in fingerprints.items()}
    for member in fusion.branches:
        if member["name"] not in members:
            source = source_run_fingerprint(member, fusion.fit_split)
            if source in by_print:
                members[member["name"]] = by_print[source]
    missing = [n for n in fusion.names if n not in members]
    if missing:
        raise UserError(f"fusion {fusion_name}: its member(s) {', '.join(missing)} are not loaded as the exact run(s) "
                        f"it was fit on (loaded: {', '.join(fingerprints)}); load those models, or use a fusion "
                        "without audio (the voice is then pooled by the default product of experts)")
    return members


class WindowFusion:
    """Fuses per-window branch probabilities; ``describe()`` says which way and with what."""

    def __init__(self, photo: PhotoPredictor, voice: AudioPredictor | None, voice_fusion: FittedFusion | None = None,
                 voice_fusion_name: str | None = None):
        self.photo, self.voice = photo, voice
        self.voice_fusion, self.voice_fusion_name = voice_fusion, voice_fusion_name
        self.members: dict[str, str] = {}
        self.face_side: str | None = None
        self.pool: FittedFusion | None = None
        if voice_fusion is not None:
            if voice is None:
                raise UserError(f"fusion {voice_fusion_name} has an audio member; load a speech model to use it")
            fingerprints = {**photo.fingerprints(), voice.branch: voice.fingerprint}
            self.members = match_members(voice_fusion, fingerprints, voice_fusion_name)
            self.voice_in_fer7 = {name: self._voice_labels_are_fer7(name)
                                  for name, key in self.members.items() if key == voice.branch}
            self.label_space = voice_fusion.label_space
            return
        self.label_space = photo.fusion.label_space if photo.fusion is not None else photo.face.label_space
        self.face_side = photo.fusion_name if photo.fusion is not None else photo.face.branch
        if voice is not None:
            if not set(FER7) & set(self.label_space):
                raise UserError(f"the face side's labels {self.label_space} share no class with the voice's FER7 "
                                "labels; they cannot be pooled (use --voice none)")
            self.pool = product_of_experts(self.face_side, self.label_space, voice.branch)

    def describe(self) -> dict[str, Any]:
        if self.voice_fusion is not None:
            return {"method": f"fusion {self.voice_fusion_name} ({self.voice_fusion.method.name}, with audio)",
                    "members": self.members, "weights": self.voice_fusion.method.weights(self.voice_fusion.names)}
        face_side = self.face_side if self.photo.fusion is None else f"fusion {self.face_side}"
        if self.pool is None:
            return {"method": "face side only (no speech model)", "face_side": face_side, "members": {},
                    "weights": {}}
        return {"method": DEFAULT_POOL, "face_side": face_side, "members": {},
                "weights": {self.face_side: 1.0, self.voice.branch: 1.0}}

    def fuse(self, face: np.ndarray, landmarks: np.ndarray | None, voice: np.ndarray | None,
             voice_fer7: np.ndarray | None, *, face_input: np.ndarray | None = None,
             landmarks_input: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray]:
        """(face side or None, fused) probabilities (N, C) over ``label_space``; NaN rows: nothing to fuse.

        Inputs are (N, C_b) calibrated probabilities of the loaded branches, NaN rows where absent: the face and
        landmark branches' window averages, the voice in its own labels and mapped onto FER7. ``face_input`` and
        ``landmarks_input`` are what a fitted fusion combines instead (``Calibrator.smooth_probs``; default: the
        probabilities themselves).
        """
        by_branch = {self.photo.face.branch: face if face_input is None else face_input}
        if self.photo.landmarks is not None:
            by_branch[self.photo.landmarks.branch] = landmarks if landmarks_input is None else landmarks_input
        if self.voice_fusion is not None:
            by_branch[self.voice.branch] = voice
            by_member = {name: voice_fer7 if self.voice_in_fer7.get(name) else by_branch[key]
                         for name, key in self.members.items()}
            return None, self.voice_fusion.fuse(by_member)
        face_side = face
        if self.photo.fusion is not None:
            face_side = self.photo.fusion.fuse({name: by_branch[key] for name, key in self.photo.members.items()})
        if self.pool is None or voice_fer7 is None:
            return face_side, np.array(face_side, np.float64)
        return face_side, self.pool.fuse({self.face_side: face_side, self.voice.branch: voice_fer7})

    def _voice_labels_are_fer7(self, member: str) -> bool:
        labels = next(tuple(b["label_space"]) for b in self.voice_fusion.branches if b["name"] == member)
        if labels not in (self.voice.label_space, FER7):
            raise UserError(f"fusion {self.voice_fusion_name}: its audio member {member} has labels {labels}, neither "
                            f"the speech model's {self.voice.label_space} nor FER7")
        return labels == FER7 and labels != self.voice.label_space
