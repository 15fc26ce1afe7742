"""Distillation: the loss, the teacher's alignment with the training samples, and the whole chain
(members' Training predictions -> ``fer ensemble teach`` -> a student face run) on the synthetic set."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fer_core import artifact
from fer_core.artifact import Predictions, artifact_path
from fer_core.distill import distillation_loss, load_teacher
from fer_core.errors import UserError
from ensemble.teach import teach
from tests.cli import fer

FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_distillation_loss_reduces_to_cross_entropy_at_its_limits():
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 7, requires_grad=True), torch.randint(0, 7, (16,))
    teacher = torch.softmax(torch.randn(16, 7), 1)
    everywhere, nowhere = torch.ones(16, dtype=torch.bool), torch.zeros(16, dtype=torch.bool)
    ce = F.cross_entropy(logits, labels)
    torch.testing.assert_close(distillation_loss(logits, labels, teacher, everywhere, weight=0.0, temperature=3.0), ce)
    torch.testing.assert_close(distillation_loss(logits, labels, teacher, nowhere, weight=1.0, temperature=3.0), ce)
    one_hot = F.one_hot(labels, 7).float()
    torch.testing.assert_close(distillation_loss(logits, labels, one_hot, everywhere, weight=1.0, temperature=1.0), ce,
                               atol=1e-5, rtol=0)
    # following the teacher alone: nothing to learn once the student's logits are the teacher's log-probabilities
    for temperature in (1.0, 2.0, 4.0):
        same = distillation_loss(torch.log(teacher) + 3.0, labels, teacher, everywhere, weight=1.0,
                                 temperature=temperature)
        assert abs(same.item()) < 1e-5
        assert distillation_loss(logits, labels, teacher, everywhere, weight=1.0, temperature=temperature) > 1e-3
    loss = distillation_loss(logits, labels, teacher, everywhere, weight=0.5, temperature=2.0)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def _teacher_artifact(path, ids, split="Training", label_space=FER7, absent=()):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(label_space)), size=len(ids))
    present = ~np.isin(ids, list(absent))
    probs[~present] = np.nan
    Predictions(ids=np.asarray(ids), labels=np.zeros(len(ids), np.int64), probs=probs, present=present,
                label_space=label_space, branch="teacher/x", modality="fusion", dataset="synthetic",
                split=split).save(path)
    return probs


def test_teacher_rows_follow_the_students_sample_order_and_other_data_is_refused(tmp_path):
    ids = np.array([f"Training_{i}" for i in range(6)])
    probs = _teacher_artifact(tmp_path / "t.json", ids[::-1], absent=("Training_2",))
    teacher = load_teacher(tmp_path / "t.json", ids=ids, label_space=FER7, split="Training")
    np.testing.assert_allclose(teacher.probs[0].numpy(), probs[-1], atol=1e-6)  # reordered by id
    assert teacher.present.tolist() == [True, True, False, True, True, True]
    assert teacher.probs[2].sum() == 0
    with pytest.raises(UserError, match=r"has no row for 1 of the 7 Training samples \(first 'Training_9'\)"):
        load_teacher(tmp_path / "t.json", ids=np.append(ids, "Training_9"), label_space=FER7, split="Training")
    _teacher_artifact(tmp_path / "p.json", ids, split="PublicTest")
    with pytest.raises(UserError, match="holds split 'PublicTest'; a teacher must cover 'Training'"):
        load_teacher(tmp_path / "p.json", ids=ids, label_space=FER7, split="Training")
    with pytest.raises(UserError, match="is over"):
        load_teacher(tmp_path / "t.json", ids=ids, label_space=FER7[::-1], split="Training")
    with pytest.raises(UserError, match="fer ensemble teach FUSION_RUN"):
        load_teacher(tmp_path / "none", ids=ids, label_space=FER7, split="Training")


def test_teacher_from_a_fusion_then_a_student_that_learns_from_it(tiny_runs, tmp_path):
    runs = {k: shutil.copytree(tiny_runs[k], tmp_path / k) for k in ("face", "landmarks", "fusion")}
    fusion = json.loads((runs["fusion"] / "fusion.json").read_text())
    names = [b["name"] for b in fusion["branches"]]
    moved = [f"--member={n}={runs[k]}" for n, k in zip(names, ("face", "landmarks"))]
    teacher = tmp_path / "teacher"

    r = fer("ensemble", "teach", str(runs["fusion"]), "--out", str(teacher), *moved)
    assert r.returncode == 2 and "has no Training predictions; run 'fer face evaluate" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and not teacher.exists()
    for branch, k in (("face", "face"), ("landmarks", "landmarks")):
        r = fer(branch, "evaluate", str(runs[k]), "--data", "synthetic", "--train-predictions")
        assert r.returncode == 0, r.stderr
    r = fer("ensemble", "teach", str(runs["fusion"]), "--out", str(teacher), *moved)
    assert r.returncode == 0, r.stderr
    made = artifact.load(artifact_path(teacher, "Training"))
    face_train = artifact.load_run(runs["face"], "Training")
    assert made.split == "Training" and made.n == face_train.n and made.present.all()
    assert sorted(made.ids.tolist()) == sorted(face_train.ids.tolist())
    assert made.extra["fusion_sha256"] and set(made.extra["members"]) == set(names)

    r = fer("ensemble", "teach", str(runs["fusion"]), "--out", str(teacher), *moved)
    assert r.returncode == 2 and "exists; pass --overwrite" in r.stderr
    r = fer("ensemble", "teach", str(runs["fusion"]), "--out", str(tmp_path / "t2"))  # recorded dirs: other evaluation
    assert r.returncode == 2 and "has no Training predictions" in r.stderr, r.stderr

    student = tmp_path / "student"
    train = ("face", "train", "--backbone", "vgg48_tiny", "--data", "synthetic", "--epochs", "2", "--input-size", "48",
             "--set", "model.head_hidden=64", "--set", "train.batch_size=64", "--set", "model.drop_path_rate=0",
             "--set", f"train.teacher={teacher}", "--set", "train.distill_weight=0.7", "--out", str(student),
             "--no-progress")
    r = fer(*train, "--stop-after", "1")
    assert r.returncode == 0, r.stderr
    saved = json.loads((student / "config.json").read_text())
    assert saved["teacher"]["file"] == str(artifact_path(teacher, "Training"))
    assert saved["teacher"]["n"] == made.n and saved["config"]["train"]["distill_weight"] == 0.7

    other = tmp_path / "other"
    shutil.copytree(teacher, other)
    (artifact_path(other, "Training")).write_text(artifact_path(other, "Training").read_text().replace(" ", "  ", 1))
    r = fer(*[a if a != f"train.teacher={teacher}" else f"train.teacher={other}" for a in train], "--resume")
    assert r.returncode == 2 and "different config" in r.stderr, r.stderr  # the path is part of the recipe
    artifact_path(teacher, "Training").write_text(artifact_path(other, "Training").read_text())
    r = fer(*train, "--resume")
    assert r.returncode == 2 and "was trained with teacher" in r.stderr and "resume with that file" in r.stderr, r.stderr
    assert not (student / "metrics.json").exists()

    # in-process: a member whose PublicTest predictions changed is another run
    public = artifact.load_run(runs["face"], "PublicTest")
    public.probs = np.roll(public.probs, 1, axis=1)
    public.save(artifact_path(runs["face"], "PublicTest"))
    with pytest.raises(UserError, match="is not the run the fusion was fit on"):
        teach(runs["fusion"], tmp_path / "t3", members=dict(zip(names, (str(runs["face"]), str(runs["landmarks"])))))
    assert not (tmp_path / "t3").exists()
