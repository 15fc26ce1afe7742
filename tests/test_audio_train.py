"""A tiny end-to-end run on synthetic tones: training, run directory, artifacts, resume, predictor, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from fer_core.artifact import load as load_artifact
from fer_core.artifact import load_run
from fer_core.conformal import run_sets, set_labels
from fer_core.errors import UserError
from fer_audio.config import apply_overrides, load_recipe
from fer_audio.splits import fixed_split
from tests.cli import fer
from tests.video_fixtures import speech

REPO = Path(__file__).resolve().parents[1]
TINY = ["model.name=cnn-tiny", "train.epochs=4", "train.batch_size=16", "train.lr=0.01", "train.warmup_epochs=1",
        "train.mixup_alpha=0.0", "features.frames=48", "features.n_mels=32", "features.hop_ms=16",
        "augment.max_shift_frames=4", "augment.time_width=6", "augment.freq_width=4", "eval.crops=2"]


@pytest.fixture(scope="module")
def tiny_data():
    from fer_audio.synthetic import make_synthetic

    return make_synthetic(seed=0, seconds=0.5, statements=(1,), repetitions=(1, 2))


def _train(tiny_data, out: Path, monkeypatch, **kw):
    from fer_audio import data as data_mod
    from fer_audio.train import train

    monkeypatch.setattr(data_mod, "load_ravdess", lambda *a, **k: tiny_data)
    cfg = apply_overrides(load_recipe(), TINY + kw.pop("sets", []))
    return train(cfg, data="synthetic", out=out, command="fer audio train --test", split=fixed_split(),
                 progress=False, **kw)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_data):
    mp = pytest.MonkeyPatch()
    try:
        out = _train(tiny_data, tmp_path_factory.mktemp("audio") / "run", mp)
    finally:
        mp.undo()
    return out


def test_run_directory_has_the_face_branch_layout(tiny_run):
    for name in ("config.json", "history.json", "metrics.json", "best.pt", "last.pt", "curves.png", "reliability.png"):
        assert (tiny_run / name).is_file(), name
    m = json.loads((tiny_run / "metrics.json").read_text())
    for key in ("split", "n", "accuracy", "macro_f1", "nll", "ece", "ece_uncalibrated", "temperature", "command"):
        assert key in m, key
    assert m["split"] == "test" and m["n"] == 4 * 30 and m["command"] == "fer audio train --test"
    assert m["accuracy"] > 0.6, m["accuracy"]  # distinct pitches per emotion: a working model separates them
    assert m["synthetic"] is True and m["split_protocol"]["test"] == [21, 22, 23, 24]
    val, test = load_run(tiny_run, "validation"), load_run(tiny_run, "test")
    assert val.n == 2 * 30 and test.n == 4 * 30 and val.label_space == test.label_space and len(val.label_space) == 8
    assert test.fit_splits == ["train", "validation"] and test.calibration_split == "validation"
    test.check_no_leakage()
    assert val.modality == "audio" and val.branch == "audio/cnn-tiny" and val.dataset == "synthetic"
    assert not set(val.ids) & set(test.ids)
    assert {i[-2:] for i in test.ids} == {"21", "22", "23", "24"}
    ckpt = torch.load(tiny_run / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["meta"]["backbone"] == "cnn-tiny" and (tiny_run / "best.pt").stat().st_size < 2_000_000


def test_refuses_to_clobber_and_resume_replays_exactly(tmp_path, tiny_data, tiny_run, monkeypatch):
    with pytest.raises(UserError, match="finished run"):
        _train(tiny_data, tiny_run, monkeypatch)
    out = tmp_path / "resumed"
    _train(tiny_data, out, monkeypatch, stop_after=2)
    assert not (out / "metrics.json").exists()
    with pytest.raises(UserError, match="unfinished run"):
        _train(tiny_data, out, monkeypatch)
    with pytest.raises(UserError, match="different config"):
        _train(tiny_data, out, monkeypatch, resume=True, sets=["train.lr=0.02"])
    _train(tiny_data, out, monkeypatch, resume=True)
    a = json.loads((tiny_run / "history.json").read_text())
    b = json.loads((out / "history.json").read_text())
    assert [h["val_loss"] for h in a] == pytest.approx([h["val_loss"] for h in b], abs=1e-9)


def test_predictor_scores_files_at_any_rate_and_marks_bad_ones(tiny_run, tmp_path):
    from fer_audio.predict import AudioPredictor
    from fer_audio.synthetic import tone

    x = tone("03-01-05-02-01-01-21", 44100, 0.5, np.random.default_rng(0))
    good = tmp_path / "angry.wav"
    sf.write(good, np.stack([x, x], 1), 44100)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    pred = AudioPredictor.from_run(tiny_run)
    r = pred.predict_file(good, speech_detection=False)  # a synthetic tone: no voice for the detector
    assert r["present"] and len(r["probs"]) == 8 and abs(sum(r["probs"]) - 1) < 1e-6
    assert r["label_space"][int(np.argmax(r["probs"]))] == r["label"] and abs(sum(r["probs_fer7"]) - 1) < 1e-6
    rows = pred.predict_files([good, silent], strict=False, speech_detection=False)
    assert rows[0]["present"] and not rows[1]["present"] and "silent" in rows[1]["error"]


def _fer(*args, cwd=REPO):
    return fer(*args, cwd=cwd)


def test_predict_cli_error_line_nothing_written_and_batch_artifact(tiny_run, tmp_path):
    good = tmp_path / "a.flac"
    sf.write(good, speech(1.0), 16000)
    short = tmp_path / "short.wav"
    sf.write(short, np.full(1600, 0.1, np.float32), 16000)
    art = tmp_path / "out" / "pred.json"
    r = _fer("audio", "predict", good, short, "--run", tiny_run)
    assert r.returncode == 2 and r.stderr.startswith("error:") and r.stderr.strip().count("\n") == 0
    assert "shorter than the 0.3 s" in r.stderr and r.stdout == ""
    r = _fer("audio", "predict", good, short, "--run", tiny_run, "--artifact", art, "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["present"] for row in rows] == [True, False]
    preds = load_artifact(art)
    assert preds.present.tolist() == [True, False] and preds.split == "predict"
    r = _fer("audio", "predict", good, "--run", tmp_path / "no-run")
    assert r.returncode == 2 and "no config.json" in r.stderr
    folder = tmp_path / "recordings"
    (folder / "day 2").mkdir(parents=True)
    sf.write(folder / "b.wav", speech(2.0), 16000)
    (folder / "day 2" / "a.flac").write_bytes(good.read_bytes())
    (folder / "notes.txt").write_text("not a clip")
    r = _fer("audio", "predict", folder, "--run", tiny_run, "--json")
    assert r.returncode == 0, r.stderr
    assert [row["file"] for row in json.loads(r.stdout)] == [str(folder / "b.wav"), str(folder / "day 2" / "a.flac")]
    (tmp_path / "empty").mkdir()
    r = _fer("audio", "predict", tmp_path / "empty", "--run", tiny_run)
    assert r.returncode == 2 and "no audio files" in r.stderr and "Traceback" not in r.stderr
    r = _fer("audio", "predict", good, "--run", tiny_run, "--coverage", "0.9", "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    record = run_sets(tiny_run, metrics)
    assert row["prediction_set"] == set_labels(dict(zip(row["label_space"], row["probs"])), record, 0.9)
    r = _fer("audio", "predict", good, "--run", tiny_run, "--coverage", "0.5")
    assert r.returncode == 2 and r.stderr == "error: --coverage 0.5: choose one of 0.8, 0.9, 0.95\n"


def test_a_clip_without_speech_is_reported_and_not_scored(tiny_run, tmp_path):
    from fer_audio.speech_activity import MIN_SPEECH_SHARE

    spoken, hum = tmp_path / "spoken.wav", tmp_path / "hum.wav"
    sf.write(spoken, speech(2.0), 16000)
    t = np.arange(32000) / 16000
    sf.write(hum, (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32), 16000)
    r = _fer("audio", "predict", spoken, hum, "--run", tiny_run, "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows[0]["present"] and rows[0]["speech_share"] >= MIN_SPEECH_SHARE
    assert not rows[1]["present"] and rows[1]["speech_share"] < MIN_SPEECH_SHARE and "probs" not in rows[1]
    assert r.stderr.count("\n") == 1 and f"{hum}: no speech found" in r.stderr and "--no-speech-detection" in r.stderr
    table = _fer("audio", "predict", hum, "--run", tiny_run).stdout
    assert "no speech" in table.splitlines()[1]
    r = _fer("audio", "predict", spoken, hum, "--run", tiny_run, "--json", "--no-speech-detection")
    assert r.returncode == 0 and [row["present"] for row in json.loads(r.stdout)] == [True, True]


def test_cli_help_and_unknown_model(tmp_path):
    r = _fer("audio", "train", "--help")
    assert r.returncode == 0 and "actor" in r.stdout and "--resume" in r.stdout
    r = _fer("audio", "train", "--data", "synthetic", "--out", tmp_path / "x", "--model", "resnet9000")
    assert r.returncode == 2 and "unknown audio model" in r.stderr and not (tmp_path / "x").exists()


def test_kfold_cross_validation_covers_every_actor_once(tmp_path, tiny_data, monkeypatch):
    from fer_audio import data as data_mod
    from fer_audio.crossval import cross_validate

    monkeypatch.setattr(data_mod, "load_ravdess", lambda *a, **k: tiny_data)
    cfg = apply_overrides(load_recipe(), TINY + ["train.epochs=1"])
    summary = cross_validate(cfg, data="synthetic", out=tmp_path / "cv", folds=2, command="fer audio cv --test",
                             device="cpu", progress=False)
    folds = summary["per_fold"]
    assert [f["fold"] for f in folds] == [1, 2]
    assert sorted(a for f in folds for a in f["test_actors"]) == list(range(1, 25))
    assert sum(f["n"] for f in folds) == len(tiny_data)
    assert (tmp_path / "cv" / "cv.md").is_file() and "mean" in (tmp_path / "cv" / "cv.md").read_text()
    assert summary["summary"]["accuracy"]["mean"] == pytest.approx(np.mean([f["accuracy"] for f in folds]))
    pooled = summary["pooled"]
    assert pooled["n"] == len(tiny_data)
    n_correct = sum(round(f["accuracy"] * f["n"]) for f in folds)
    assert pooled["accuracy"] == pytest.approx(n_correct / len(tiny_data))
    assert 0 <= pooled["ece_of_perfect_calibration"]["p05"] <= pooled["ece_of_perfect_calibration"]["p95"] <= 1
    assert "| pooled | all |" in (tmp_path / "cv" / "cv.md").read_text()
    assert len(summary["pooled_cross_fitted_temperature"]["temperatures"]) == 2
    assert "| pooled, cross-fitted T | all |" in (tmp_path / "cv" / "cv.md").read_text()


def _fold_run(root, k, logits, labels):
    from fer_core.artifact import Predictions, artifact_path
    from scipy.special import softmax as _softmax

    run = root / f"fold-{k}"
    Predictions(ids=[f"f{k}-{i}" for i in range(len(labels))], labels=labels, probs=_softmax(logits, axis=1),
                logits=logits, label_space=("a", "b", "c"), branch="audio/test", modality="audio",
                dataset="synthetic", split="test", calibration_split="validation").save(artifact_path(run, "test"))
    return run


def test_cross_fitted_temperature_recovers_shared_overconfidence_without_own_labels(tmp_path):
    from fer_audio.crossval import cross_fitted_test_metrics

    rng = np.random.default_rng(0)
    runs, folds = [], []
    for k in range(1, 4):
        true_logits = rng.normal(0, 1.5, size=(600, 3))
        labels = np.array([rng.choice(3, p=p) for p in np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)])
        folds.append((2.5 * true_logits, labels))  # every fold's model is overconfident by the same factor
        runs.append(_fold_run(tmp_path, k, *folds[-1]))
    out = cross_fitted_test_metrics(runs)
    assert out["n"] == 1800
    assert out["temperatures"] == pytest.approx([2.5] * 3, rel=0.15)
    assert out["ece"] < out["ece_uncalibrated"]

    # Fold 1's temperature must not change when fold 1's own labels do.
    logits, labels = folds[0]
    _fold_run(tmp_path, 1, logits, rng.permutation(labels))
    assert cross_fitted_test_metrics(runs)["temperatures"][0] == pytest.approx(out["temperatures"][0])
    assert cross_fitted_test_metrics(runs)["temperatures"][1] != pytest.approx(out["temperatures"][1])


def test_truly_paired_files_keep_logits_and_calibration_for_the_fusion(tiny_run, tiny_runs, tmp_path):
    """``fer ensemble pairs --manifest``: each branch's artifact holds the logits and the calibration of its model, so
    a fusion fit on them combines the same inputs (``fusion_input``) as the photo and video paths."""
    import shutil

    from PIL import Image

    from ensemble.pairs import build_manifest_pairs
    from fer_face.data import load_fer2013
    from fer_face.predict import FaceModel

    face = shutil.copytree(tiny_runs["face"], tmp_path / "face")
    r = fer("recalibrate", face, "--calibration", "isotonic")
    assert r.returncode == 0, r.stderr
    crops, labels = load_fer2013("synthetic").split_arrays("PrivateTest")
    lines = ["sample_id,face,audio,label,split"]
    for i, emotion in enumerate(("05", "03", "05", "03")):  # angry, happy
        sf.write(tmp_path / f"{i}.wav", speech(0.5 + 0.25 * i), 16000)
        Image.fromarray(crops[i]).save(tmp_path / f"{i}.png")
        lines.append(f"s{i},{i}.png,{i}.wav,{'angry' if emotion == '05' else 'happy'},{'validation' if i < 2 else 'test'}")
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    build_manifest_pairs(tmp_path / "out", tmp_path / "pairs.csv", audio_run=tiny_run, face_run=face,
                         landmark_run=tiny_runs["landmarks"], command="fer ensemble pairs --manifest pairs.csv",
                         device="cpu", progress=False)
    art = load_run(tmp_path / "out" / "face", "test")
    assert art.calibrator.kind == "isotonic" and art.logits is not None
    # the artifact stores logits to 7 decimals; steep isotonic segments magnify that rounding a little
    np.testing.assert_allclose(art.probs, art.calibrator.probs(art.logits), atol=2e-5)
    np.testing.assert_allclose(art.fusion_input, art.calibrator.smooth_probs(art.logits), atol=1e-9)
    model = FaceModel.from_run(face, device="cpu")
    expected = model.predict(Image.open(tmp_path / "2.png")).probs
    np.testing.assert_allclose(art.probs[0], [expected[c] for c in art.label_space], atol=1e-6)
    voice = load_run(tmp_path / "out" / "audio", "test")
    assert voice.logits is not None and voice.present.all()
