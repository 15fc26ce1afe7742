import json
import shutil

import numpy as np
import pytest
from PIL import Image

from fer_face.data.synthetic import _face
from fer_face.faces import best_face
from tests.cli import fer


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, tiny_runs):
    """A runs folder holding a copy of the test run's tiny face run as ``tiny``."""
    root = tmp_path_factory.mktemp("runs")
    shutil.copytree(tiny_runs["face"], root / "tiny")
    return root


def stand_in(run, dest, *, backbone="mobilenetv2_100", recipe=None):
    """A copy of ``run`` whose recorded backbone (and recipe) read as another's: what ``fer face compare`` reads
    (config.json, metrics.json, history.json) without training that backbone; its weights are never loaded."""
    shutil.copytree(run, dest)
    cfg = json.loads((dest / "config.json").read_text())
    cfg["config"]["model"]["backbone"] = backbone
    if recipe is not None:
        cfg["config"]["recipe"] = recipe
        metrics = json.loads((dest / "metrics.json").read_text())
        metrics["recipe"] = recipe
        (dest / "metrics.json").write_text(json.dumps(metrics))
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def photo_with_drawn_face(path, seed=0):
    """A 320x320 'photo': a generated face drawn at 160 px on a flat background (dlib's HOG finds it)."""
    rng = np.random.default_rng(seed)
    canvas = np.full((320, 320), 90, np.uint8)
    canvas[80:240, 80:240] = np.asarray(Image.fromarray(_face(rng, 3)).resize((160, 160), Image.Resampling.BICUBIC))
    assert best_face(canvas) is not None
    Image.fromarray(canvas).convert("RGB").save(path)
    return path


def test_predict_crop_photo_and_bad_files(runs_root, tmp_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(_face(np.random.default_rng(1), 5)).save(crop)
    photo = photo_with_drawn_face(tmp_path / "photo.jpg")
    r = fer("face", "predict", "--model", str(runs_root / "tiny"), "--json", str(crop), str(photo))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["results"]) == 2
    crop_res, photo_res = out["results"]
    assert crop_res["box"] is None and photo_res["box"] is not None
    for res in out["results"]:
        assert set(res["probs"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
        assert sum(res["probs"].values()) == pytest.approx(1, abs=1e-4)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((300, 400), 128, np.uint8)).save(blank)
    r = fer("face", "predict", "--model", str(runs_root / "tiny"), str(corrupt), str(blank))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{corrupt}: corrupt or unreadable image" in r.stderr
    assert f"{blank}: no face found" in r.stderr


def test_frozen_cpu_predictor_matches_the_run_artifact(runs_root):
    import torch

    from fer_core import artifact
    from fer_face.data import load_fer2013
    from fer_face.predict import FaceModel

    run = runs_root / "tiny"
    from fer_face.inference import freeze_for_cpu

    predictor = FaceModel.from_run(run, device="cpu")
    predictor.network = freeze_for_cpu(predictor.network)
    assert isinstance(predictor.network, torch.jit.ScriptModule), "the model traces and freezes"
    saved = artifact.load(artifact.artifact_path(run, "PrivateTest"))
    ds = load_fer2013("synthetic")
    x, _ = ds.split_arrays("PrivateTest")
    probs = predictor.predict_crops(x[:40])
    np.testing.assert_allclose(probs, saved.probs[:40], atol=1e-4)


def test_a_cpu_predictor_runs_eagerly_for_a_photo_and_chooses_its_graph_after_many_faces(runs_root, monkeypatch):
    from fer_face import predict
    from fer_face.data import load_fer2013

    chosen = []
    monkeypatch.setattr(predict, "fastest_for_cpu", lambda network: chosen.append(network) or network)
    predictor = predict.FaceModel.from_run(runs_root / "tiny", device="cpu")
    x, _ = load_fer2013("synthetic").split_arrays("PrivateTest")
    eager = predictor.predict_crops(x[:3])
    assert not chosen  # a photo's faces: no trace, no timing
    for _ in range(predict.CHOOSE_GRAPH_AFTER_FACES // 3):
        predictor.predict_crops(x[:3])
    assert len(chosen) == 1 and predictor.faces_until_graph_choice is None
    predictor.predict_crops(x[:3])
    assert len(chosen) == 1  # chosen once
    np.testing.assert_allclose(predictor.predict_crops(x[:3]), eager, atol=1e-6)


def test_compare_writes_paper_side_by_side(runs_root, tmp_path):
    runs = tmp_path / "runs"
    stand_in(runs_root / "tiny", runs / "mobilenetv2_100")
    r = fer("face", "compare", "--runs", str(runs), "--backbones", "mobilenetv2_100", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "comparison.json").read_text())
    metrics = json.loads((runs_root / "tiny" / "metrics.json").read_text())
    assert rows[0]["paper_test_acc"] == 0.64698 and rows[0]["paper_train_acc"] == 0.96586
    assert rows[0]["test_acc"] == metrics["accuracy"] and rows[0]["test_ece"] == metrics["ece"]
    md = (tmp_path / "comparison.md").read_text()
    assert "SYNTHETIC" in md and "64.70" in md
    assert (tmp_path / "comparison.csv").read_text().startswith("backbone,paper_train_acc")
    r = fer("face", "compare", "--runs", str(runs), "--backbones", "efficientnet_b0")
    assert r.returncode == 2 and "no finished efficientnet_b0 run with recipe 'improved'" in r.stderr
    assert "train it or pass --train-missing" in r.stderr
    started = shutil.copytree(runs_root / "tiny", runs / "efficientnet_b0")  # interrupted: last.pt, no metrics.json
    (started / "metrics.json").unlink()
    r = fer("face", "compare", "--runs", str(runs), "--backbones", "efficientnet_b0")
    assert r.returncode == 2 and f"{started} stopped after epoch 1 of 1; pass --train-missing to resume it" in r.stderr


def test_compare_finds_a_run_by_its_recorded_backbone_whatever_the_folder(runs_root, tmp_path):
    shutil.copytree(runs_root / "tiny", tmp_path / "runs" / "my-first-try")
    r = fer("face", "compare", "--runs", str(tmp_path / "runs"), "--backbones", "vgg48_tiny")
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "runs" / "comparison.json").read_text())
    assert rows[0]["run"].endswith("runs/my-first-try") and "my-first-try" in r.stderr
    r = fer("face", "compare", "--runs", str(tmp_path / "runs"), "--backbones", "vgg48_tiny", "--recipe", "paper")
    assert r.returncode == 2 and "no finished vgg48_tiny run with recipe 'paper'" in r.stderr


def test_reevaluate_with_shifted_views_updates_config_artifacts_and_predictor(runs_root, tmp_path):
    from fer_core import artifact
    from fer_face.data import load_fer2013
    from fer_face.predict import FaceModel

    run = tmp_path / "run"
    shutil.copytree(runs_root / "tiny", run)
    before = json.loads((run / "config.json").read_text())
    bad = fer("face", "evaluate", str(run), "--data", "synthetic", "--set", "train.lr=1.0")
    assert bad.returncode == 2 and "only eval.* settings" in bad.stderr and "Traceback" not in bad.stderr
    assert json.loads((run / "config.json").read_text()) == before
    r = fer("face", "evaluate", str(run), "--data", "synthetic", "--set", "eval.tta_shift_px=2")
    assert r.returncode == 0, r.stderr
    after = json.loads((run / "config.json").read_text())
    assert after["config"]["eval"]["tta_shift_px"] == 2 and after["command"] == before["command"]
    m = json.loads((run / "metrics.json").read_text())
    assert "--set eval.tta_shift_px=2" in m["evaluate_command"]
    saved = artifact.load(artifact.artifact_path(run, "PrivateTest"))
    assert saved.extra["tta_shift_px"] == 2
    from fer_face.compare import collect_row, to_markdown

    assert "(evaluated with `fer face evaluate" in to_markdown([collect_row("vgg48_tiny", run)])
    # the single-image predictor uses the same ten views as the artifact
    x, _ = load_fer2013("synthetic").split_arrays("PrivateTest")
    np.testing.assert_allclose(FaceModel.from_run(run, device="cpu").predict_crops(x[:20]), saved.probs[:20], atol=1e-4)


def test_compare_writes_the_three_group_table_and_figure_6(runs_root, tmp_path):
    paper_runs, improved_runs = tmp_path / "paper", tmp_path / "improved"
    stand_in(runs_root / "tiny", paper_runs / "mobilenetv2_100", recipe="paper")
    stand_in(runs_root / "tiny", improved_runs / "mobilenetv2_100")
    out = tmp_path / "table"
    r = fer("face", "compare", "--recipe", "paper", "--runs", str(paper_runs), "--improved-runs", str(improved_runs),
            "--backbones", "mobilenetv2_100", "efficientnet_b0", "--out", str(out))
    assert r.returncode == 2 and "no finished efficientnet_b0 run with recipe 'paper'" in r.stderr
    r = fer("face", "compare", "--recipe", "paper", "--runs", str(paper_runs), "--improved-runs", str(improved_runs),
            "--backbones", "mobilenetv2_100", "--out", str(out))
    assert r.returncode == 0, r.stderr
    metrics = json.loads((runs_root / "tiny" / "metrics.json").read_text())
    (row,) = json.loads((out / "paper-table.json").read_text())
    assert row["paper"] == {"train_acc": 0.96586, "test_acc": 0.64698}
    for group, runs in (("paper_protocol", paper_runs), ("improved", improved_runs)):
        run = runs / "mobilenetv2_100"
        g = row[group]
        assert g["private_acc"] == metrics["accuracy"] and g["public_acc"] == metrics["val_accuracy"]
        assert g["ece"] == metrics["ece"] and g["run"] == run.as_posix()
        assert g["ece_band"] == [metrics["ece_of_perfect_calibration"]["p05"], metrics["ece_of_perfect_calibration"]["p95"]]
    assert row["paper_protocol"]["recipe"] == "paper" and row["improved"]["recipe"] != "paper"
    md = (out / "paper-table.md").read_text()
    assert "| mobilenetv2_100 | 96.59 | 64.70 |" in md and f"**{100 * metrics['accuracy']:.2f}**" in md
    assert (out / "paper-table.csv").read_text().startswith("backbone,paper_train_acc,paper_test_acc,paper_protocol_")
    png = (out / "paper-figure6.png").read_bytes()
    assert png.startswith(b"\x89PNG") and Image.open(out / "paper-figure6.png").size[0] > 800  # two panels
    # no improved run for a backbone: its group says so; a missing folder is refused before anything is written
    empty = tmp_path / "empty"
    empty.mkdir()
    r = fer("face", "compare", "--recipe", "paper", "--runs", str(paper_runs), "--improved-runs", str(empty),
            "--backbones", "mobilenetv2_100", "--out", str(tmp_path / "t2"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "t2" / "paper-table.json").read_text())[0]["improved"] is None
    assert "no run" in (tmp_path / "t2" / "paper-table.md").read_text()
    r = fer("face", "compare", "--recipe", "paper", "--runs", str(paper_runs), "--improved-runs",
            str(tmp_path / "nowhere"), "--backbones", "mobilenetv2_100", "--out", str(tmp_path / "t3"))
    assert r.returncode == 2 and "--improved-runs" in r.stderr and not (tmp_path / "t3").exists()
