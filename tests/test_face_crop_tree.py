"""``fer face crop``: one's own photos -> a training tree of the face crops ``fer predict`` would see."""


import numpy as np
import skimage.data
from PIL import Image

from fer_face.data import load_fer2013
from fer_face.faces import load_image, register_photo_formats
from fer_face.predict import face_crops
from tests.cli import fer


def test_crop_a_photo_tree_for_training(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "crops"
    astronaut = Image.fromarray(skimage.data.astronaut())
    for split, emotion in [("train", "happy"), ("val", "happy"), ("test", "Happiness")]:
        (photos / split / emotion).mkdir(parents=True)
        astronaut.save(photos / split / emotion / "astronaut.jpg")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(photos / "train" / "happy" / "crop.png")
    Image.new("L", (300, 200), 128).save(photos / "train" / "happy" / "wall.jpg")  # no face
    register_photo_formats()
    astronaut.save(photos / "train" / "happy" / "IMG_0001.HEIC", quality=90)  # an iPhone's photo
    (photos / "train" / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    (photos / "notes.txt").write_text("outside the layout: ignored")

    r = fer("face", "crop", str(photos), "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "train/happy/wall.jpg: no face found, skipped" in r.stderr
    assert "train/happy/broken.jpg" in r.stderr and "unreadable" in r.stderr and "Traceback" not in r.stderr
    assert "5 face crop(s) written" in r.stderr
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["test/Happiness/astronaut.png", "train/happy/IMG_0001.png", "train/happy/astronaut.png",
                       "train/happy/crop.png", "val/happy/astronaut.png"]
    # the crop is the one fer predict classifies: the astronaut's face, 48x48 grey
    expected = face_crops(load_image(photos / "train" / "happy" / "astronaut.jpg"))[0].pixels
    np.testing.assert_array_equal(np.asarray(Image.open(out / "train" / "happy" / "astronaut.png")), expected)
    ds = load_fer2013(str(out))
    assert {s: len(ds.split_ids(s)) for s in ("Training", "PublicTest", "PrivateTest")} == {
        "Training": 3, "PublicTest": 1, "PrivateTest": 1}


def test_crop_refusals(tmp_path):
    r = fer("face", "crop", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "not a folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "flat").mkdir()
    Image.new("L", (60, 60)).save(tmp_path / "flat" / "a.jpg")
    r = fer("face", "crop", str(tmp_path / "flat"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "no photos in a <split>/<class>/ layout" in r.stderr
    r = fer("face", "crop", str(tmp_path / "flat"), "--out", str(tmp_path / "flat" / "inside"))
    assert r.returncode == 2 and "must lie outside" in r.stderr
    assert not (tmp_path / "o").exists()
