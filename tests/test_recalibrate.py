"""``fer recalibrate``: another calibrator from a run's saved logits; evaluation and prediction then agree with it."""

import json
import shutil

import numpy as np
import pytest

from fer_core.artifact import load_run
from fer_core.calibration import Calibrator
from fer_face.data import load_fer2013
from fer_face.predict import FaceModel

from tests.cli import fer
from tests.conftest import run_fer


def test_recalibrate_rewrites_artifacts_metrics_and_config_and_evaluation_keeps_them(tiny_runs, tmp_path):
    run = shutil.copytree(tiny_runs["face"], tmp_path / "face")
    before = load_run(run, "PublicTest")
    r = run_fer("recalibrate", str(run), "--calibration", "temperature+bias")
    assert "temperature+bias calibration" in r.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["calibration"]["kind"] == "temperature+bias" and metrics["calibration"]["choice"] == "temperature+bias"
    assert json.loads((run / "config.json").read_text())["config"]["eval"]["calibration"] == "temperature+bias"
    prints = {}
    for split in ("PublicTest", "PrivateTest"):
        art = load_run(run, split)
        np.testing.assert_array_equal(art.logits, load_run(tiny_runs["face"], split).logits)  # logits untouched
        in_sample = art.calibrator.probs(art.logits)
        if split == "PublicTest":  # the split it is fit on: each fold's rows calibrated by the other folds
            assert np.abs(art.probs - in_sample).max() > 1e-4
            np.testing.assert_allclose(art.probs.sum(1), 1.0, atol=1e-6)
        else:
            np.testing.assert_allclose(art.probs, in_sample, atol=1e-6)
        prints[split] = art.fingerprint()
    assert prints["PublicTest"] != before.fingerprint()
    assert metrics["temperature"] == art.temperature

    # evaluating with the weights again keeps the calibration the run records, and its files
    run_fer("face", "evaluate", str(run), "--data", "synthetic")
    assert {s: load_run(run, s).fingerprint() for s in prints} == prints
    # the predictor built from the run applies the same calibrator as the artifacts
    model = FaceModel.from_run(run, device="cpu")
    assert model.calibrator == Calibrator.of_metrics(metrics)
    ds = load_fer2013("synthetic")
    x, _ = ds.split_arrays("PrivateTest")
    np.testing.assert_allclose(model.predict_crops(x[:16]), load_run(run, "PrivateTest").probs[:16], atol=2e-5)
    # back to the plain temperature: the original calibration again (refit from the saved, 7-digit logits)
    run_fer("recalibrate", str(run), "--calibration", "temperature")
    assert load_run(run, "PublicTest").temperature == pytest.approx(before.temperature, rel=1e-5)


def test_recalibrate_refuses_fusions_and_non_runs_in_one_line(tiny_runs, tmp_path):
    r = fer("recalibrate", str(tiny_runs["fusion"]), "--calibration", "auto")
    assert r.returncode == 2 and "a fusion; fit it again with 'fer ensemble fuse" in r.stderr and r.stderr.count("\n") == 1
    r = fer("recalibrate", str(tmp_path), "--calibration", "auto")
    assert r.returncode == 2 and "no metrics.json" in r.stderr and r.stderr.count("\n") == 1
    r = fer("recalibrate", str(tiny_runs["face"]), "--calibration", "platt")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_a_fusion_combines_the_smooth_probabilities_of_an_isotonic_member_everywhere(tiny_runs, tmp_path):
    """Isotonic maps are steps: a fusion combines the member's probabilities before them (fit, teacher, photo path),
    while the member's own rows in the comparison show its calibrated probabilities."""
    from ensemble.fusion import FittedFusion
    from ensemble.photo import PhotoPredictor

    face = shutil.copytree(tiny_runs["face"], tmp_path / "face")
    run_fer("recalibrate", str(face), "--calibration", "isotonic")
    art = load_run(face, "PrivateTest")
    assert art.calibrator.kind == "isotonic" and not np.allclose(art.fusion_input, art.probs)
    np.testing.assert_allclose(art.fusion_input, art.calibrator.smooth_probs(art.logits))
    out = tmp_path / "fusion"
    run_fer("ensemble", "fuse", "--branch", str(face), "--branch", str(tiny_runs["landmarks"]), "--method", "logpool",
            "--out", str(out), "--no-progress")
    fusion = FittedFusion.load(out)
    lm = load_run(tiny_runs["landmarks"], "PrivateTest")
    names = fusion.names
    expected = fusion.fuse({names[0]: art.fusion_input, names[1]: lm.fusion_input})
    np.testing.assert_allclose(load_run(out, "PrivateTest").probs, expected, atol=2e-6)
    rows = {r["name"]: r for r in json.loads((out / "comparison.json").read_text())["rows"]}
    assert rows[names[0]]["accuracy"] == json.loads((face / "metrics.json").read_text())["accuracy"]

    photo = PhotoPredictor.load(str(face), str(tiny_runs["landmarks"]), str(out), device="cpu")
    x, _ = load_fer2013("synthetic").split_arrays("PrivateTest")
    found = photo.predict(x[0])[0]
    z = photo.face.logits_crops(x[:1])
    assert [found.branches[photo.face.branch][c] for c in photo.face.label_space] == \
        np.float64(photo.face.calibrator.probs(z)[0]).tolist()
    lm_input = photo.landmarks.predict_image(x[0], mode="crop")["fusion_input"]
    by_member = {names[0]: photo.face.calibrator.smooth_probs(z), names[1]: None if lm_input is None else lm_input[None]}
    np.testing.assert_allclose([found.fused[c] for c in fusion.label_space], fusion.fuse(by_member)[0], atol=1e-9)


def test_a_calibrator_refit_from_the_saved_artifact_is_the_one_evaluation_fit(tmp_path):
    from fer_core.evaluate import SplitLogits, calibrate

    rng = np.random.default_rng(4)
    splits = {}
    for split in ("PublicTest", "PrivateTest"):
        labels = rng.integers(0, 7, 600)
        logits = rng.normal(size=(600, 7)) * 3 + np.eye(7)[labels] * 2.5  # full float64 precision
        splits[split] = SplitLogits(np.array([f"{split}_{i}.jpg" for i in range(600)]), labels, logits)
    producer = dict(label_space=[str(c) for c in range(7)], branch="face/x", modality="face", dataset="synthetic",
                    fit_splits=["Training"], command="fer face train")
    first = calibrate(tmp_path / "a", splits, calibration_split="PublicTest", write=("PublicTest", "PrivateTest"),
                      calibration="isotonic", **producer)
    saved = {s: load_run(tmp_path / "a", s) for s in splits}
    again = calibrate(tmp_path / "b", {s: SplitLogits(a.ids, a.labels, a.logits) for s, a in saved.items()},
                      calibration_split="PublicTest", write=("PublicTest", "PrivateTest"), calibration="isotonic",
                      **producer)
    assert again["PublicTest"].calibration == first["PublicTest"].calibration
    for s in splits:
        np.testing.assert_array_equal(again[s].probs, first[s].probs)
