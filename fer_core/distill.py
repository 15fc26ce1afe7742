"""Knowledge distillation: a teacher's probabilities on the training split, and the student's loss.

The teacher is a predictions artifact (``fer_core.artifact``) of the training split, usually a fused one written by
``fer ensemble teach``. ``load_teacher`` lines its rows up with the student's training samples by sample id and
refuses a teacher over other samples, another split or another label space. ``distillation_loss`` is Hinton et
al.'s: (1 - w) * cross-entropy with the labels + w * T^2 * KL(teacher_T || student_T), where teacher_T is the
teacher's probabilities softened by the temperature T (p ** (1 / T), renormalised) and student_T the student's
softmax of logits / T. Samples the teacher has no prediction for learn from their label alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fer_core import artifact
from fer_core.errors import UserError


@dataclass(frozen=True)
class Teacher:
    probs: torch.Tensor  # (N, C) float32 as the teacher states them, in the student's sample order; 0 where absent
    present: torch.Tensor  # (N,) bool
    path: str
    sha256: str  # of the artifact file: a resumed student must read the same teacher
    branch: str

    def describe(self) -> dict[str, object]:
        """What a student's config.json records of its teacher."""
        return {"file": self.path, "sha256": self.sha256, "branch": self.branch,
                "present": int(self.present.sum()), "n": int(len(self.present))}


def teacher_file(path: str | Path, split: str) -> Path:
    """A teacher artifact given as the file itself or as the run directory holding it."""
    path = Path(path)
    return artifact.artifact_path(path, split) if path.is_dir() else path


def load_teacher(path: str | Path, *, ids: np.ndarray, label_space: Sequence[str], split: str) -> Teacher:
    """The teacher's probabilities for the samples ``ids`` (in that order) of ``split``; one-line errors."""
    file = teacher_file(path, split)
    if not file.is_file():
        raise UserError(f"train.teacher: {file} not found; write it with 'fer ensemble teach FUSION_RUN --out DIR' "
                        "and pass DIR or DIR/predictions/Training.json")
    preds = artifact.load(file)
    if preds.split != split:
        raise UserError(f"train.teacher: {file} holds split {preds.split!r}; a teacher must cover {split!r}")
    if tuple(preds.label_space) != tuple(label_space):
        raise UserError(f"train.teacher: {file} is over {list(preds.label_space)}, the data over {list(label_space)}")
    known = set(preds.ids.tolist())
    missing = [sid for sid in ids.tolist() if sid not in known]
    if missing:
        raise UserError(f"train.teacher: {file} has no row for {len(missing)} of the {len(ids)} {split} samples "
                        f"(first {missing[0]!r}); it was written for other data")
    take = preds.rows_of(ids)
    present = preds.present[take]
    probs = np.where(present[:, None], np.nan_to_num(preds.probs[take], nan=0.0), 0.0)
    return Teacher(torch.as_tensor(probs, dtype=torch.float32), torch.as_tensor(present), str(file),
                   hashlib.sha256(file.read_bytes()).hexdigest(), preds.branch)


def distillation_loss(logits: torch.Tensor, labels: torch.Tensor, teacher_probs: torch.Tensor,
                      teacher_present: torch.Tensor, *, weight: float, temperature: float,
                      label_smoothing: float = 0.0) -> torch.Tensor:
    """(1 - w) CE(labels) + w T^2 KL(teacher_T || student_T), averaged over the batch; rows without a teacher: CE."""
    logits = logits.float()
    hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing, reduction="none")
    soft_teacher = torch.softmax(torch.log(teacher_probs.clamp_min(1e-12)) / temperature, dim=1)
    log_student = torch.log_softmax(logits / temperature, dim=1)
    kl = (soft_teacher * (torch.log(soft_teacher.clamp_min(1e-12)) - log_student)).sum(1) * temperature ** 2
    w = weight * teacher_present.to(logits.dtype)
    return ((1 - w) * hard + w * kl).mean()
