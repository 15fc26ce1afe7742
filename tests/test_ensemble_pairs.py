"""Face+voice pairing: pseudo-pairs are deterministic, label-consistent and labelled; manifests are checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from fer_core.artifact import Predictions, artifact_path, load_run
from fer_core.errors import ArtifactError, DataError
from fer_core.labels import FER7
from fer_audio.labels import RAVDESS8, TO_FER7
from ensemble.pairs import (PSEUDO_DATASET, build_pseudo_pairs, draw_pseudo_pairs, read_manifest, rekey,
                             to_fer7)
from tests.cli import fer


def _artifact(run: Path, split: str, ids, labels, space, *, branch, modality, dataset, seed, absent=()):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(len(ids), len(space))) * 2
    z[np.arange(len(ids)), labels] += 2.0
    present = np.ones(len(ids), bool)
    present[list(absent)] = False
    probs = softmax(z / 1.3, axis=1)
    probs[~present] = np.nan
    Predictions(ids=ids, labels=labels, logits=z, probs=probs, present=present, label_space=space, branch=branch,
                modality=modality, dataset=dataset, split=split, temperature=1.3, calibration_split="cal",
                fit_splits=["train", "cal"], command="test").save(artifact_path(run, split))


@pytest.fixture()
def runs(tmp_path):
    """An audio run (8 RAVDESS classes; splits validation/test) and a face run (FER7; PublicTest/PrivateTest)."""
    audio, face = tmp_path / "audio", tmp_path / "face"
    for s_no, (split, actors) in enumerate((("validation", (19, 20)), ("test", (21, 22, 23, 24)))):
        ids, labels = [], []
        for a in actors:
            for e in range(1, 9):
                for rep in (1, 2):
                    ids.append(f"03-01-{e:02d}-01-01-{rep:02d}-{a:02d}")
                    labels.append(e - 1)
        _artifact(audio, split, ids, labels, RAVDESS8, branch="audio/cnn", modality="audio", dataset="ravdess",
                  seed=s_no, absent=(3,))
    for s_no, split in enumerate(("PublicTest", "PrivateTest")):
        labels = np.repeat(np.arange(7), 40)
        ids = [f"{split}_{i}.jpg" for i in range(len(labels))]
        _artifact(face, split, ids, labels, FER7, branch="face/net", modality="face", dataset="fer2013", seed=10 + s_no)
    return audio, face


def test_pseudo_pairs_are_deterministic_label_consistent_and_labelled(tmp_path, runs):
    audio, face = runs
    r1 = build_pseudo_pairs(tmp_path / "p1", audio_run=audio, face_run=face, landmark_run=None, seed=3, command="c")
    r2 = build_pseudo_pairs(tmp_path / "p2", audio_run=audio, face_run=face, landmark_run=None, seed=3, command="c")
    assert (tmp_path / "p1" / "pseudo-pairs.csv").read_text() == (tmp_path / "p2" / "pseudo-pairs.csv").read_text()
    r3 = build_pseudo_pairs(tmp_path / "p3", audio_run=audio, face_run=face, landmark_run=None, seed=4, command="c")
    assert (tmp_path / "p3" / "pseudo-pairs.csv").read_text() != (tmp_path / "p1" / "pseudo-pairs.csv").read_text()
    assert r1["pairs"] == r2["pairs"] == r3["pairs"] == {"validation": 32, "test": 64}
    assert "--fit-split validation --eval-split test" in r1["fuse_command"]

    src_face = {s: load_run(face, s) for s in ("PublicTest", "PrivateTest")}
    src_audio = {s: load_run(audio, s) for s in ("validation", "test")}
    for split, face_split in (("validation", "PublicTest"), ("test", "PrivateTest")):
        a, f = load_run(tmp_path / "p1" / "audio", split), load_run(tmp_path / "p1" / "face", split)
        assert list(a.ids) == list(f.ids) and np.array_equal(a.labels, f.labels)
        for art in (a, f):
            assert art.dataset == PSEUDO_DATASET and art.split == split and art.label_space == FER7
            assert art.extra["pseudo_pairs"] is True and "PSEUDO-PAIRS" in art.extra["note"]
            assert split == "validation" or split not in art.fit_splits  # usable for --eval-split test
            assert all(i.startswith("pseudo-pair/") for i in art.ids)
        face_used = [i.split("/")[2] for i in f.ids]
        assert len(set(face_used)) == len(face_used)  # drawn without replacement
        face_row = {sid: k for k, sid in enumerate(src_face[face_split].ids)}
        audio_row = {sid: k for k, sid in enumerate(src_audio[split].ids)}
        for k, pid in enumerate(a.ids):
            _, clip, face_id = pid.split("/")
            assert face_id.startswith(face_split)
            clip_label = FER7.index(TO_FER7[RAVDESS8[src_audio[split].labels[audio_row[clip]]]])
            assert a.labels[k] == clip_label == src_face[face_split].labels[face_row[face_id]]
            np.testing.assert_allclose(f.probs[k], src_face[face_split].probs[face_row[face_id]], atol=1e-6)
        # one audio row was absent in the source: it stays absent (not dropped)
        assert a.n == len(src_audio[split].ids) and (~a.present).sum() == (~src_audio[split].present).sum()
    summary = json.loads((tmp_path / "p1" / "summary.json").read_text())
    assert "PSEUDO-PAIRS" in summary["note"] and set(summary["branches"]) == {"face", "audio"}
    assert "PSEUDO-PAIRS" in (tmp_path / "p1" / "README.md").read_text()
    assert json.loads((tmp_path / "p1" / "face" / "metrics.json").read_text())["dataset"] == PSEUDO_DATASET


def test_merging_calm_into_neutral_keeps_probabilities_and_temperature(runs):
    audio, _ = runs
    preds = load_run(audio, "test")
    probs, logits, labels = to_fer7(preds, "x")
    p = preds.present
    np.testing.assert_allclose(probs[p].sum(1), 1, atol=1e-9)
    np.testing.assert_allclose(softmax(logits[p] / preds.temperature, axis=1), probs[p], atol=1e-6)
    neutral = FER7.index("neutral")
    np.testing.assert_allclose(probs[p, neutral], preds.probs[p, 0] + preds.probs[p, 1], atol=1e-6)
    assert labels[preds.labels == 1].tolist() == [neutral] * int((preds.labels == 1).sum())


def test_draw_refuses_labels_without_faces_and_rekey_refuses_mismatched_labels(runs):
    with pytest.raises(DataError, match="no disgust faces"):
        draw_pseudo_pairs({"validation": (["c1"], [1]), "test": (["c2"], [1])},
                          {"validation": (["f1"], [0]), "test": (["f2"], [1])}, seed=0)
    pairs = draw_pseudo_pairs({"validation": (["c1"], [0]), "test": (["c2"], [0])},
                              {"validation": (["f1"], [0]), "test": (["f2"], [0])}, seed=0)
    _, face = runs
    wrong = load_run(face, "PrivateTest")
    sid = wrong.ids[wrong.labels == 3][0]  # a happy face for an angry pair
    with pytest.raises(ArtifactError, match="does not match the pairing"):
        rekey(wrong, [sid], pairs[1:], split="test", dataset="d", command="c", extra={}, fit_splits=[],
              calibration_split=None, source="face")


def _manifest(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "pairs.csv"
    p.write_text(body)
    return p


def test_manifest_rows_are_checked_with_row_numbers(tmp_path):
    ok = _manifest(tmp_path, "sample_id,face,audio,label,split\na,f.png,a.wav,happy,validation\nb,g.png,b.wav,calm,\n")
    rows = read_manifest(ok)
    assert [r.split for r in rows] == ["validation", "test"]
    assert rows[1].label == FER7.index("neutral") and rows[0].face == tmp_path / "f.png"
    cases = {
        "sample_id,face,audio,label\na,f.png,a.wav,happy\nb,g.png,b.wav,bored\n": "row 3: label 'bored'",
        "sample_id,face,audio,label\na,f.png\n": "row 2: 2 field",
        "sample_id,face,audio,label\na,f.png,a.wav,happy\na,f.png,a.wav,sad\n": "row 3: sample_id 'a' occurs twice",
        "sample_id,face,audio,label,split\na,f.png,a.wav,happy,train\n": "row 2: split 'train'",
        "sample_id,face,audio,label\n,f.png,a.wav,happy\n": "row 2: empty",
        "id,image,label\n": "missing column 'audio'",
        "sample_id,face,audio,label\n": "no rows",
    }
    for body, phrase in cases.items():
        with pytest.raises(DataError) as e:
            read_manifest(_manifest(tmp_path, body))
        assert phrase in str(e.value) and "\n" not in str(e.value), (body, str(e.value))
    with pytest.raises(DataError, match="not found"):
        read_manifest(tmp_path / "missing.csv")


def test_pairs_cli_feeds_the_ensemble(tmp_path, runs):
    audio, face = runs
    out = tmp_path / "pp"
    cmd = ["ensemble", "pairs", "--out", out, "--audio-run", audio, "--face-run", face, "--seed", "0"]
    r = fer(*cmd)
    assert r.returncode == 0, r.stderr
    fuse = r.stdout.strip().splitlines()[-1]
    assert fuse.startswith("fer ensemble fuse") and "PSEUDO-PAIRS" in r.stderr
    r = fer(*cmd)
    assert r.returncode == 2 and "--overwrite" in r.stderr  # never clobbers silently
    pytest.importorskip("ensemble.fuse")
    r = fer(*fuse.split()[1:], "--no-progress")
    assert r.returncode == 0, r.stderr
    fused = json.loads((out / "fusion" / "metrics.json").read_text())
    assert fused["split"] == "test" and fused["n"] == 64
