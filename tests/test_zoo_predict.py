"""The model zoo end to end on tiny synthetic runs: publish, verify hashes, load by name, fused ``fer predict``."""

import csv
import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from fer_face.data.synthetic import _face
from fer_face.faces import register_photo_formats
from tests.cli import fer as run_in_process
from tests.conftest import train_tiny_face

FER7 = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}


def fer(*args, zoo_dir=None):
    return run_in_process(*args, env={"FER_ZOO_DIR": str(zoo_dir)} if zoo_dir is not None else None)


def ok(r):
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, tiny_runs):
    """A zoo folder with a tiny face model, a tiny landmark model and their logpool fusion, all published."""
    root = tmp_path_factory.mktemp("zoo")
    face, lm, fusion = tiny_runs["face"], tiny_runs["landmarks"], tiny_runs["fusion"]
    z = root / "zoo"
    ok(fer("models", "add", str(face), "--name", "tiny_face", "--default", "--zoo", str(z)))
    ok(fer("models", "add", str(lm), "--name", "tiny_landmarks", "--default", "--zoo", str(z)))
    ok(fer("models", "add-fusion", str(fusion), "--name", "tiny_fusion", "--default", "--zoo", str(z)))
    return {"root": root, "zoo": z, "face": face, "landmarks": lm, "fusion": fusion}


def drawn_face_photo(path, seed=0):
    rng = np.random.default_rng(seed)
    canvas = np.full((320, 320), 90, np.uint8)
    canvas[80:240, 80:240] = np.asarray(Image.fromarray(_face(rng, 3)).resize((160, 160), Image.Resampling.BICUBIC))
    Image.fromarray(canvas).convert("RGB").save(path)
    return path


def test_manifest_records_files_hashes_and_provenance(zoo):
    from fer_core import zoo as fer_zoo

    manifest = fer_zoo.load_manifest(zoo["zoo"])
    assert [m.name for m in manifest.models] == ["tiny_face", "tiny_landmarks"]
    for m in manifest.models:
        assert m.shipped and fer_zoo.sha256_file(zoo["zoo"] / m.file) == m.sha256
        assert m.file.endswith(".safetensors") and m.default and m.temperature > 0
        assert m.command.startswith("fer ") and m.metrics["split"] == "PrivateTest" and 0 <= m.metrics["ece"] <= 1
        assert tuple(m.label_space) and len(m.fingerprint) == 64
    (fusion,) = manifest.fusions
    assert set(fusion.members.values()) == {
        "tiny_face", "tiny_landmarks"}
    listing = ok(fer("models", "list", "--zoo", str(zoo["zoo"]))).stdout
    assert "tiny_face" in listing and "tiny_fusion" in listing


def test_published_weights_predict_exactly_like_the_run(zoo, monkeypatch):
    from fer_face.data import load_fer2013
    from fer_face.predict import FaceModel, load_model

    monkeypatch.setenv("FER_ZOO_DIR", str(zoo["zoo"]))
    x, _ = load_fer2013("synthetic").split_arrays("PrivateTest")
    published, run = load_model(device="cpu"), FaceModel.from_run(zoo["face"], device="cpu")
    np.testing.assert_allclose(published.predict_crops(x[:16]), run.predict_crops(x[:16]), atol=1e-6)
    assert published.fingerprint == run.fingerprint and published.name == "tiny_face"


def test_fused_predict_on_photos_a_folder_and_bad_files(zoo, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    drawn_face_photo(photos / "a.jpg")
    register_photo_formats()
    Image.open(photos / "a.jpg").save(photos / "iphone.heic", quality=95)  # found in a folder and read too
    Image.fromarray(_face(np.random.default_rng(2), 4)).save(photos / "crop.png")
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    Image.fromarray(np.full((300, 400), 128, np.uint8)).save(photos / "blank.png")
    (photos / "clip.mp4").write_bytes(b"a video is scored on its own")
    r = fer("predict", str(photos), "--json", "--no-progress", zoo_dir=zoo["zoo"])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"1 video file(s) left out (a video is scored on its own: fer predict {photos / 'clip.mp4'})" in r.stderr
    out = json.loads(r.stdout)
    assert out["models"]["fusion"] == "tiny_fusion"
    by_file = {os.path.basename(row["file"]): row for row in out["results"]}
    assert set(by_file) == {"a.jpg", "iphone.heic", "crop.png", "corrupt.jpg", "blank.png"}
    assert "corrupt or unreadable" in by_file["corrupt.jpg"]["error"] and by_file["blank.png"]["error"] == "no face found"
    assert f"{photos / 'blank.png'}: no face found; --detector cnn finds more faces (slower)" in r.stderr
    face = by_file["a.jpg"]
    assert set(face["fused"]) == FER7 and sum(face["fused"].values()) == pytest.approx(1, abs=1e-4)
    assert face["label"] == max(face["fused"], key=face["fused"].get)
    assert set(face["branches"]) == {"face/tiny_face", "landmarks/tiny_landmarks"} and "prediction_set" not in face
    left, top, right, bottom = face["box"]
    assert left < 160 < right and top < 160 < bottom and face["detector_score"] is not None
    assert by_file["crop.png"]["box"] is None and by_file["crop.png"]["level_degrees"] == 0.0
    assert np.abs(np.subtract(by_file["iphone.heic"]["box"], face["box"])).max() <= 4
    csv_out = tmp_path / "out.csv"
    r = fer("predict", str(photos / "a.jpg"), "--csv", str(csv_out), zoo_dir=zoo["zoo"])
    ok(r)
    rows = list(csv.DictReader(csv_out.open()))
    assert len(rows) == 1 and rows[0]["label"] in FER7 and float(rows[0]["fused_happy"]) >= 0
    assert float(rows[0]["level_degrees"]) == face["level_degrees"]


def test_published_entries_record_the_conformal_sets_of_their_run(zoo):
    from ensemble.conformal import run_conformal
    from fer_core import zoo as fer_zoo

    manifest = fer_zoo.load_manifest(zoo["zoo"])
    for entry, run in ((manifest.model("tiny_face"), zoo["face"]), (manifest.fusion("tiny_fusion"), zoo["fusion"])):
        record = entry.conformal
        assert record["method"] == "lac" and record["class_conditional"] and record["calibration_split"] == "PublicTest"
        assert sorted(record["thresholds"]) == ["0.8", "0.9", "0.95"]
        report = run_conformal(run, coverage=0.9, class_conditional=True, out=zoo["root"] / "cc", quiet=True)
        assert record["thresholds"]["0.9"] == list(report["threshold"].values())  # what fer ensemble conformal fits
        assert record["test"]["coverage"]["0.9"] == report["coverage"]
        assert record["test"]["mean_set_size"]["0.9"] == report["mean_set_size"]


def test_predict_gives_each_face_its_prediction_set(zoo, tmp_path):
    from fer_core import zoo as fer_zoo

    photo = drawn_face_photo(tmp_path / "face.jpg")
    out = json.loads(ok(fer("predict", str(photo), "--coverage", "0.9", "--json", "--no-progress",
                            zoo_dir=zoo["zoo"])).stdout)
    (face,) = out["results"]
    thresholds = fer_zoo.load_manifest(zoo["zoo"]).fusion("tiny_fusion").conformal["thresholds"]["0.9"]
    labels = list(face["fused"])
    inside = [c for c, q in zip(labels, thresholds) if q is None or face["fused"][c] >= 1 - q]
    assert face["prediction_set"] == sorted(inside, key=face["fused"].get, reverse=True)
    table = ok(fer("predict", str(photo), "--coverage", "0.95", "--no-progress", zoo_dir=zoo["zoo"])).stdout
    assert table.splitlines()[0].endswith("  set") and table.splitlines()[1].endswith("}")
    r = fer("predict", str(photo), "--coverage", "0.85", zoo_dir=zoo["zoo"])  # refused before any model loads
    assert r.returncode == 2 and r.stderr == "error: --coverage 0.85: choose one of 0.8, 0.9, 0.95\n"


def test_a_fusion_applies_only_to_the_exact_runs_it_was_fit_on(zoo, tmp_path):
    other = train_tiny_face(tmp_path / "other_face", seed=1)
    photo = drawn_face_photo(tmp_path / "a.jpg")
    r = ok(fer("predict", str(photo), "--face", str(other), "--json", zoo_dir=zoo["zoo"]))
    out = json.loads(r.stdout)
    assert out["models"]["fusion"] is None and out["results"][0]["fused"] is None
    assert "no fusion applied" in r.stderr
    r = fer("predict", str(photo), "--face", str(other), "--fusion", "tiny_fusion", zoo_dir=zoo["zoo"])
    assert r.returncode == 2 and "not loaded as the exact run" in r.stderr and "Traceback" not in r.stderr
    # the run it was fit on, given as a directory, is that member
    r = ok(fer("predict", str(photo), "--face", str(zoo["face"]), "--json", zoo_dir=zoo["zoo"]))
    assert json.loads(r.stdout)["models"]["fusion"] == "tiny_fusion"


def test_a_changed_weights_file_is_refused(zoo, tmp_path):
    tampered = tmp_path / "zoo"
    shutil.copytree(zoo["zoo"], tampered)
    weights = next(tampered.glob("face-*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    r = fer("predict", str(drawn_face_photo(tmp_path / "a.jpg")), zoo_dir=tampered)
    assert r.returncode == 2 and "does not match the manifest" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_model_that_does_not_ship_needs_its_file(zoo, tmp_path):
    z = tmp_path / "zoo"
    ok(fer("models", "add", str(zoo["face"]), "--name", "big", "--default", "--not-shipped", "--zoo", str(z)))
    kept = zoo["face"] / "face-big.safetensors"
    assert kept.is_file() and not (z / "face-big.safetensors").exists()
    photo = drawn_face_photo(tmp_path / "a.jpg")
    r = fer("face", "predict", str(photo), zoo_dir=z)
    assert r.returncode == 2 and "does not ship" in r.stderr and "weights file" in r.stderr
    ok(fer("face", "predict", str(photo), "--model", "big", "--weights", str(kept), zoo_dir=z))
    kept.unlink()


def test_a_published_model_read_with_other_views_is_an_entry_of_its_own(zoo, tmp_path, monkeypatch):
    from fer_core import zoo as fer_zoo
    from fer_core.calibration import calibrated_probs
    from fer_face.data import load_fer2013
    from fer_face.inference import predict_logits
    from fer_face.predict import load_model
    from ensemble.photo import PhotoPredictor

    z = tmp_path / "zoo"
    shutil.copytree(zoo["zoo"], z)
    ok(fer("models", "add-views", "tiny_face", "--name", "tiny_face_1view", "--views", "1", "--data", "synthetic",
           "--zoo", str(z)))
    manifest = fer_zoo.load_manifest(z)
    source, fast = manifest.model("tiny_face"), manifest.model("tiny_face_1view")
    assert (fast.file, fast.sha256) == (source.file, source.sha256) and not fast.default
    assert fast.config["eval"]["tta_flip"] is False and source.config["eval"]["tta_flip"] is True
    assert fast.fingerprint != source.fingerprint and fast.temperature != source.temperature
    assert fast.calibration is None  # a temperature for the new views: what follows the source's was fit on its own
    assert fast.metrics["split"] == "PrivateTest" and fast.command.endswith(
        "fer models add-views tiny_face --name tiny_face_1view --views 1 --data data/synthetic")
    monkeypatch.setenv("FER_ZOO_DIR", str(z))
    model = load_model("tiny_face_1view", device="cpu")
    x, _ = load_fer2013("synthetic").split_arrays("PrivateTest")
    expected = calibrated_probs(predict_logits(model.network, x[:8], device=model.device), fast.temperature)
    np.testing.assert_allclose(model.predict_crops(x[:8]), expected, atol=1e-6)
    predictor = PhotoPredictor.load("tiny_face_1view")  # the fusion was fit on the 2-view predictions
    assert predictor.fusion is None and predictor.landmarks is not None
    for bad, message in ((["tiny_face", "--name", "x", "--views", "7"], "unknown view set"),
                         (["tiny_landmarks", "--name", "x", "--views", "2"], "views are a face model's"),
                         (["tiny_face", "--name", "tiny_face", "--views", "2"], "its own name")):
        r = fer("models", "add-views", *bad, "--data", "synthetic", "--zoo", str(z))
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_min_face_skips_smaller_faces_and_is_checked(zoo, tmp_path):
    photo = drawn_face_photo(tmp_path / "a.jpg")  # a 160-px face on a 320-px canvas
    found = json.loads(ok(fer("predict", str(photo), "--json", "--min-face", "120", zoo_dir=zoo["zoo"])).stdout)
    assert found["results"][0]["box"] is not None
    r = fer("predict", str(photo), "--json", "--min-face", "400", zoo_dir=zoo["zoo"])
    assert r.returncode == 0 and json.loads(r.stdout)["results"][0]["error"] == "no face found"
    r = fer("predict", str(photo), "--min-face", "0", zoo_dir=zoo["zoo"])
    assert r.returncode == 2 and "--min-face 0" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    alone = json.loads(ok(fer("face", "predict", str(photo), "--json", "--min-face", "120", zoo_dir=zoo["zoo"])).stdout)
    assert alone["results"][0]["box"] is not None


def test_refresh_records_a_recalibrated_run_and_keeps_the_weights(zoo, tmp_path, monkeypatch):
    from ensemble.photo import PhotoPredictor
    from fer_core import zoo as fer_zoo
    from fer_core.artifact import load_run
    from fer_face.data import load_fer2013
    from fer_face.predict import load_model

    z, run = tmp_path / "zoo", tmp_path / "face"
    shutil.copytree(zoo["zoo"], z)
    shutil.copytree(zoo["face"], run)
    manifest = json.loads((z / "manifest.json").read_text())
    for entry in manifest["models"]:
        if entry["name"] == "tiny_face":
            entry["run"] = str(run)
    (z / "manifest.json").write_text(json.dumps(manifest))
    before = fer_zoo.load_manifest(z).model("tiny_face")
    ok(fer("recalibrate", str(run), "--calibration", "temperature+bias"))
    r = ok(fer("models", "refresh", "tiny_face", "--zoo", str(z)))
    assert "temperature+bias calibration" in r.stderr
    after = fer_zoo.load_manifest(z).model("tiny_face")
    assert (after.file, after.sha256, after.command) == (before.file, before.sha256, before.command)
    assert after.calibrator.kind == "temperature+bias" and after.fingerprint == load_run(run, "PublicTest").fingerprint()
    assert after.metrics["ece"] == json.loads((run / "metrics.json").read_text())["ece"]
    monkeypatch.setenv("FER_ZOO_DIR", str(z))
    x, _ = load_fer2013("synthetic").split_arrays("PrivateTest")
    np.testing.assert_allclose(load_model("tiny_face", device="cpu").predict_crops(x[:8]),
                               load_run(run, "PrivateTest").probs[:8], atol=1e-5)
    assert PhotoPredictor.load().fusion is None  # fit on the old calibration: no longer the exact member
    config = json.loads((run / "config.json").read_text())
    config["config"]["eval"]["tta_flip"] = not config["config"]["eval"]["tta_flip"]
    (run / "config.json").write_text(json.dumps(config))
    r = fer("models", "refresh", "tiny_face", "--zoo", str(z))
    assert r.returncode == 2 and "another network or other test-time views" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_fine_tuning_starts_from_a_published_model(zoo, tmp_path):
    from fer_core import zoo as fer_zoo

    entry = fer_zoo.load_manifest(zoo["zoo"]).model("tiny_face")
    tiny = ["--backbone", "vgg48_tiny", "--data", "synthetic", "--epochs", "1", "--input-size", "48",
            "--set", "model.head_hidden=64", "--set", "train.batch_size=64", "--set", "model.drop_path_rate=0",
            "--no-progress"]
    child = tmp_path / "child"
    # lr 0 keeps every parameter where it started: the child's weights are the published file's
    ok(fer("face", "train", *tiny, "--init-from", "tiny_face", "--set", "train.lr=0", "--set", "train.scheduler=none",
           "--out", str(child), zoo_dir=zoo["zoo"]))
    published = fer_zoo.read_tensors(zoo["zoo"] / entry.file)
    trained = torch.load(child / "last.pt", weights_only=True)["model"]
    for k, v in published.items():
        if "running_" not in k and "num_batches" not in k:
            torch.testing.assert_close(trained[k], v, rtol=0, atol=0, msg=k)
    assert json.loads((child / "config.json").read_text())["config"]["train"]["init_from"] == "zoo:tiny_face"
    m = json.loads((child / "metrics.json").read_text())
    parent = json.loads((zoo["face"] / "metrics.json").read_text())
    assert m["warm_start_from"] == "zoo:tiny_face" and m["warm_start_command"] == entry.command
    assert m["prior_epochs"] == parent["best_epoch"] and m["epochs"] == 1

    r = fer("face", "train", *tiny[:-1], "--backbone", "vgg48_half", "--init-from", "tiny_face", "--out",
            str(tmp_path / "other"), zoo_dir=zoo["zoo"])
    assert r.returncode == 2 and "is a 'vgg48_tiny', not 'vgg48_half'" in r.stderr and "Traceback" not in r.stderr
    r = fer("face", "train", *tiny, "--set", "model.head_hidden=32", "--init-from", "tiny_face", "--out",
            str(tmp_path / "wider"), zoo_dir=zoo["zoo"])
    assert r.returncode == 2 and "do not fit this recipe's model section" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "other" / "last.pt").exists() and not (tmp_path / "wider" / "last.pt").exists()


def test_a_published_face_model_exports_as_a_run_folder_that_evaluates_like_its_run(zoo, tmp_path):
    from fer_core import zoo as fer_zoo
    from fer_core.artifact import load_run

    entry = fer_zoo.load_manifest(zoo["zoo"]).model("tiny_face")
    out = tmp_path / "exported"
    ok(fer("models", "export", "tiny_face", "--out", str(out), "--zoo", str(zoo["zoo"])))
    saved = json.loads((out / "config.json").read_text())
    assert saved["exported_from"] == {"model": "tiny_face", "sha256": entry.sha256, "dtype": "float32"}
    assert saved["command"] == entry.command and saved["config"]["model"] == entry.config["model"]
    ok(fer("face", "evaluate", str(out), "--data", "synthetic", "--train-predictions"))
    # float32 weights: the same predictions as the published run's, so fusions fit on it apply to the export too
    assert load_run(out, "PublicTest").fingerprint() == entry.fingerprint
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(entry.metrics["accuracy"]) and metrics["best_epoch"] >= 1
    assert load_run(out, "Training").split == "Training"

    (tmp_path / "a_file").write_text("x")
    for bad, message in ((["tiny_face", "--out", str(out)], "not an empty folder"),
                         (["tiny_face", "--out", str(tmp_path / "a_file")], "not an empty folder"),
                         (["tiny_landmarks", "--out", str(tmp_path / "lm")], "only face models export")):
        r = fer("models", "export", *bad, "--zoo", str(zoo["zoo"]))
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "lm").exists()


def test_an_exported_run_records_the_training_settings_of_its_recipe():
    from fer_core import zoo as fer_zoo
    from fer_face.config import load_recipe, with_defaults
    from fer_face.publish import _training_settings

    shipped = fer_zoo.load_manifest().model("vgg48_slim")
    recipe = load_recipe(shipped.recipe)
    assert _training_settings(shipped) == {"train": recipe["train"], "augment": recipe["augment"]}
    other = dataclasses.replace(shipped, config={**shipped.config, "model": {**shipped.config["model"], "head_hidden": 64}})
    defaults = with_defaults({"model": other.config["model"]})  # another network: the recipe's are not its settings
    assert _training_settings(other) == {"train": defaults["train"], "augment": defaults["augment"]}
