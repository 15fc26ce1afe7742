"""End to end through ``fer landmarks``: tiny train on synthetic data, artifacts, evaluate, overlay, predict, errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from fer_core import artifact
from fer_core.branch import discover_branches
from fer_core.cli import command_line, main
from fer_core.labels import FER7

METRIC_KEYS = {"split", "n", "accuracy", "macro_f1", "nll", "ece", "ece_uncalibrated", "temperature", "command"}


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "mlp"
    argv = ["landmarks", "train", "--data", "synthetic", "--out", str(out), "--epochs", "4", "--no-progress",
            "--workers", "2", "--set", "mlp.hidden=[32]"]
    assert main(argv) == 0
    return out, command_line(argv)


def test_train_writes_a_complete_run(mlp_run):
    out, command = mlp_run
    for name in ("model.pt", "config.json", "history.json", "metrics.json", "curves.png", "reliability.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["split"] == "PrivateTest" and metrics["command"] == command
    assert metrics["n_missing"] == 0 and metrics["n"] == 210 and metrics["synthetic"] is True
    assert metrics["ece_uncalibrated"] is not None and 0 <= metrics["ece"] <= 1
    floor = metrics["ece_of_perfect_calibration"]
    assert 0 <= floor["p05"] <= floor["mean"] <= floor["p95"] < 0.5
    assert metrics["accuracy"] > 1 / 7 + 0.1, "learns the synthetic classes"
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["mlp"]["hidden"] == [32] and cfg["command"] == command
    assert (out / "model.pt").stat().st_size < 1_000_000


def test_artifacts_load_in_the_shared_reader(mlp_run):
    out, command = mlp_run
    branch = discover_branches()["landmarks"]
    assert branch.modality == "landmarks"
    for split in ("PublicTest", "PrivateTest"):
        a = artifact.load(artifact.artifact_path(out, split))
        b = branch().load_predictions(out, split)
        np.testing.assert_array_equal(a.ids, b.ids)
        assert a.modality == "landmarks" and a.branch == "landmarks/mlp" and a.dataset == "synthetic"
        assert a.label_space == FER7 and a.split == split and a.n == 210
        assert a.calibration_split == "PublicTest" and a.logits is not None and a.command == command
        np.testing.assert_allclose(a.probs.sum(1), 1.0, atol=1e-6)
    artifact.load_run(out, "PrivateTest").check_no_leakage()
    with pytest.raises(artifact.ArtifactError, match="leakage"):
        artifact.load_run(out, "PublicTest").check_no_leakage()
    raw = json.loads(artifact.artifact_path(out, "PrivateTest").read_text())
    assert set(raw) == {"format", "version", "branch", "modality", "dataset", "split", "label_space", "temperature",
                        "calibration_split", "fit_splits", "command", "extra", "samples"}


def test_evaluate_reproduces_the_run(mlp_run):
    out, _ = mlp_run
    before = json.loads((out / "metrics.json").read_text())
    assert main(["landmarks", "evaluate", str(out)]) == 0
    after = json.loads((out / "metrics.json").read_text())
    assert after["accuracy"] == before["accuracy"] and after["temperature"] == pytest.approx(before["temperature"])
    assert after["command"] == before["command"] and after["evaluate_command"].startswith("fer landmarks evaluate")


def test_missing_landmarks_are_absent_rows_not_crashes(mlp_run):
    """Degenerate predictor output for some PrivateTest images: present=False rows, counted in n_missing."""
    from fer_face.data import load_fer2013
    from fer_face.landmarks.batch import LandmarkSet
    from fer_face.landmarks.cache import dataset_landmarks
    from fer_face.landmarks.extract import REASONS
    from fer_face.landmarks.evaluate import evaluate_run

    out, _ = mlp_run
    ds = load_fer2013("synthetic")
    lms, _ = dataset_landmarks(ds, workers=2)  # cached by the training run
    test_idx = np.flatnonzero(ds.mask("PrivateTest"))[:5]
    points, reason = lms.points.copy(), lms.reason.copy()
    points[test_idx[:3]] = np.nan
    reason[test_idx[:3]] = REASONS.index("collapsed") + 1
    reason[test_idx[3:]] = REASONS.index("nan") + 1  # reason says absent even though points look fine
    m = evaluate_run(out, ds, LandmarkSet(points, reason), command="test", progress=False)
    assert m["n_missing"] == 5 and m["n"] == 205 and m["coverage"] == pytest.approx(205 / 210)
    assert m["missing_reasons"]["PrivateTest"]["collapsed"] == 3 and m["missing_reasons"]["PrivateTest"]["nan"] == 2
    assert m["accuracy_missing_as_wrong"] <= m["accuracy"]
    a = artifact.load_run(out, "PrivateTest")
    assert (~a.present).sum() == 5 and np.isnan(a.probs[~a.present]).all()
    assert set(a.ids[~a.present]) == set(ds.ids[test_idx])
    assert main(["landmarks", "evaluate", str(out)]) == 0  # restore the clean artifacts


def test_logreg_baseline_run(tmp_path):
    out = tmp_path / "lr"
    assert main(["landmarks", "train", "--model", "logreg", "--data", "synthetic", "--out", str(out),
                 "--no-progress", "--set", "logreg.C=[0.1]", "--set", "logreg.max_iter=200"]) == 0
    a = artifact.load_run(out, "PrivateTest")
    assert a.branch == "landmarks/logreg"
    m = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(m) and m["selection"]["C"] == 0.1 and m["accuracy"] > 0.3


def test_predictor_and_overlay(mlp_run, tmp_path, capsys):
    from fer_face.data.synthetic import make_synthetic
    from fer_face.landmarks.overlay import draw_landmarks
    from fer_face.landmarks.predict import LandmarkPredictor

    out, _ = mlp_run
    images, labels, *_ = make_synthetic(5, {"Training": 1, "PublicTest": 0, "PrivateTest": 0})
    pred = LandmarkPredictor.from_run(out)
    r = pred.predict_image(images[0])
    assert r["present"] and r["probs"].shape == (7,) and r["points"].shape == (68, 2) and r["mode"] == "crop"
    assert r["probs"].sum() == pytest.approx(1.0)
    blank = pred.predict_image(np.full((48, 48), 60, np.uint8))
    assert not blank["present"] and blank["probs"] is None and blank["points"] is None and blank["reason"] == "blank"
    big = pred.predict_image(Image.new("RGB", (640, 480), (10, 200, 30)))
    assert not big["present"] and big["reason"] == "no_face" and big["mode"] == "photo"

    png = draw_landmarks(Image.fromarray(images[0]), r["points"], r["box"])
    assert png.mode == "RGB" and min(png.size) >= 384
    assert draw_landmarks(images[0], None).size == png.size

    src = tmp_path / "face.png"
    Image.fromarray(images[0]).save(src)
    dst = tmp_path / "overlay.png"
    assert main(["landmarks", "overlay", str(src), "--out", str(dst)]) == 0
    with Image.open(dst) as im:
        assert im.format == "PNG" and im.size == (384, 384)
        rgb = np.asarray(im.convert("RGB"))
    assert (rgb == (255, 90, 220)).all(-1).any(), "lip points are drawn"
    assert "68 landmarks" in capsys.readouterr().out


def test_predict_cli_json(mlp_run, tmp_path, capsys):
    from fer_face.data.synthetic import make_synthetic

    out, _ = mlp_run
    images, *_ = make_synthetic(6, {"Training": 1, "PublicTest": 0, "PrivateTest": 0})
    src = tmp_path / "f.png"
    Image.fromarray(images[2]).save(src)
    capsys.readouterr()
    assert main(["landmarks", "predict", str(src), "--run", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["present"] and set(rows[0]["probs"]) == set(FER7) and rows[0]["prediction"] in FER7


@pytest.mark.parametrize("argv, message", [
    (["landmarks", "train", "--data", "synthetic", "--out", "{tmp}/x", "--set", "mlp.nope=3"], "unknown key"),
    (["landmarks", "train", "--data", "synthetic", "--out", "{tmp}/x", "--set", "epochs"], "SECTION.KEY=VALUE"),
    (["landmarks", "train", "--data", "{tmp}/missing.zip", "--out", "{tmp}/x"], "missing.zip"),
    (["landmarks", "evaluate", "{tmp}"], "not a landmark run"),
    (["landmarks", "overlay", "{tmp}/broken.jpg", "--out", "{tmp}/o.png"], "broken.jpg"),
    (["landmarks", "predict", "{tmp}/broken.jpg", "--run", "{tmp}"], "model.pt"),
])
def test_bad_inputs_give_one_line_errors(tmp_path, capsys, argv, message):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_refuses_to_clobber_a_finished_run(mlp_run, capsys):
    out, _ = mlp_run
    assert main(["landmarks", "train", "--data", "synthetic", "--out", str(out), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_corrupt_model_file_is_refused(tmp_path):
    from fer_core.errors import UserError
    from fer_face.landmarks.model import LandmarkModel

    p = tmp_path / "model.pt"
    p.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a loadable landmark model"):
        LandmarkModel.load(p)


def test_mlp_deep_ensemble_saves_reloads_and_averages_members(tmp_path):
    from fer_face.landmarks.model import LandmarkModel

    out = tmp_path / "ens"
    argv = ["landmarks", "train", "--data", "synthetic", "--out", str(out), "--epochs", "3", "--no-progress",
            "--workers", "2", "--set", "mlp.hidden=[16]", "--set", "mlp.members=3"]
    assert main(argv) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["selection"]["members"] == 3 and len(cfg["selection"]["best_epochs"]) == 3
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1, 2, 3]
    model = LandmarkModel.load(out / "model.pt")
    assert len(model.net.members) == 3
    x = np.random.default_rng(0).normal(size=(5, len(model.mean))).astype(np.float32)
    members = [model.net.members[k] for k in range(3)]
    singles = [m.eval()(torch.from_numpy(x)).detach().numpy() for m in members]
    np.testing.assert_allclose(model.logits_of_standardised(x), np.mean(singles, 0), rtol=1e-5, atol=1e-5)
    assert not np.allclose(singles[0], singles[1]), "members are seeded differently"
    before = artifact.load(artifact.artifact_path(out, "PrivateTest"))
    assert main(["landmarks", "evaluate", str(out)]) == 0
    after = artifact.load(artifact.artifact_path(out, "PrivateTest"))
    np.testing.assert_allclose(after.logits, before.logits, rtol=1e-6, atol=1e-6)
