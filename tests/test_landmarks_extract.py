"""Landmark extraction never raises: 68 finite points or a missing mark; parallel = serial; cache round trip."""

import numpy as np
import pytest

from fer_face.data.synthetic import make_synthetic
from fer_face.landmarks import extract
from fer_face.landmarks.batch import LandmarkSet, extract_crops
from fer_face.landmarks.extract import REASONS, degeneracy, landmarks_in_crop, landmarks_in_photo

SMALL = {"Training": 2, "PublicTest": 1, "PrivateTest": 1}  # per class -> 28 images


@pytest.fixture(scope="module")
def synthetic_images():
    images, labels, ids, splits = make_synthetic(0, SMALL)
    return images


def check_result(lm, shape=(48, 48)):
    if lm.present:
        assert lm.points.shape == (68, 2) and np.isfinite(lm.points).all()
        assert lm.reason is None
    else:
        assert lm.points is None and lm.reason in REASONS


def test_synthetic_faces_give_68_finite_points_or_a_missing_mark(synthetic_images):
    results = [landmarks_in_crop(img) for img in synthetic_images[:10]]
    for lm in results:
        check_result(lm)
    assert sum(lm.present for lm in results) >= 8


@pytest.mark.parametrize("image", [
    np.zeros((48, 48), np.uint8),
    np.full((48, 48), 255, np.uint8),
    np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8),
    np.zeros((1, 1), np.uint8),
    np.random.default_rng(1).integers(0, 256, (3, 200), dtype=np.uint8),
    np.random.default_rng(2).integers(0, 256, (300, 7), dtype=np.uint8),
])
def test_bad_images_never_raise(image):
    check_result(landmarks_in_crop(image))
    check_result(landmarks_in_photo(image))


def test_blank_image_is_missing_not_mean_shape():
    lm = landmarks_in_crop(np.full((48, 48), 117, np.uint8))
    assert not lm.present and lm.reason == "blank"
    assert landmarks_in_photo(np.full((64, 64), 3, np.uint8)).reason == "no_face"


def test_degeneracy_rules():
    box = (0, 0, 100, 100)
    rng = np.random.default_rng(0)
    good = np.column_stack([rng.uniform(10, 90, 68), rng.uniform(10, 90, 68)])
    good[36:42] = [30, 40]
    good[42:48] = [70, 40]
    assert degeneracy(good, box) is None
    nan = good.copy()
    nan[5, 0] = np.nan
    assert degeneracy(nan, box) == "nan"
    assert degeneracy(np.full((68, 2), 50.0), box) == "collapsed"
    eyes = good.copy()
    eyes[36:48] = [50, 40]
    assert degeneracy(eyes, box) == "eyes"
    far = good.copy()
    far[0] = [500, 50]
    assert degeneracy(far, box) == "outside"
    assert degeneracy(good[:10], box) == "nan"


def test_mirror_average_is_close_to_single_fit(synthetic_images):
    img = synthetic_images[3]
    a = landmarks_in_crop(img, mirror_average=True)
    b = landmarks_in_crop(img, mirror_average=False)
    assert a.present and b.present
    assert np.abs(a.points - b.points).mean() < 2.0  # pixels of the 48x48 crop


def test_points_are_in_input_pixel_coordinates():
    """A crop and the same crop scaled x2 give the same landmarks up to the scale."""
    images, *_ = make_synthetic(1, {"Training": 1, "PublicTest": 0, "PrivateTest": 0})
    from PIL import Image

    small = images[3]
    big = np.asarray(Image.fromarray(small).resize((96, 96), Image.Resampling.BILINEAR))
    a, b = landmarks_in_crop(small), landmarks_in_crop(big)
    assert a.present and b.present
    assert np.abs((b.points + 0.5) / 2 - 0.5 - a.points).mean() < 1.0


def test_parallel_equals_serial_and_marks_missing(synthetic_images):
    imgs = np.concatenate([synthetic_images[:6], np.zeros((1, 48, 48), np.uint8)])
    serial = extract_crops(imgs, workers=1, progress=False)
    parallel = extract_crops(imgs, workers=2, progress=False)  # CHUNK > 7: one chunk, still the parallel path below
    from fer_face.landmarks import batch

    old = batch.CHUNK
    try:
        batch.CHUNK = 2
        chunked = extract_crops(imgs, workers=2, progress=False)
    finally:
        batch.CHUNK = old
    for other in (parallel, chunked):
        np.testing.assert_array_equal(other.reason, serial.reason)
        np.testing.assert_allclose(other.points, serial.points, equal_nan=True)
    assert serial.points.dtype == np.float32 and serial.points.shape == (7, 68, 2)
    assert not serial.present[-1] and np.isnan(serial.points[-1]).all()
    assert serial.reason_counts()["blank"] == 1


def test_cache_roundtrip_and_invalidation(tmp_path, monkeypatch):
    from fer_face.data import FER2013Data
    from fer_face.landmarks import cache

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path))
    images, labels, ids, splits = make_synthetic(2, {"Training": 1, "PublicTest": 1, "PrivateTest": 0})
    sub = FER2013Data(images, labels, ids, splits, source="synthetic", layout="synthetic", name="synthetic")
    first, info = cache.dataset_landmarks(sub, workers=1)
    assert not info["cached"] and (tmp_path / cache.cache_path_for(info["key"]).name).is_file()
    second, info2 = cache.dataset_landmarks(sub, workers=1)
    assert info2["cached"] and info2["key"] == info["key"]
    np.testing.assert_array_equal(second.points, first.points)
    # different pixels -> different key; a corrupt cache file is ignored and rebuilt
    changed = type(sub)(sub.images.copy(), sub.labels, sub.ids, sub.splits, source="synthetic", layout="synthetic",
                        name="synthetic")
    changed.images[0, 0, 0] ^= 1
    _, info3 = cache.dataset_landmarks(changed, workers=1)
    assert info3["key"] != info["key"] and not info3["cached"]
    cache.cache_path_for(info["key"]).write_bytes(b"garbage")
    _, info4 = cache.dataset_landmarks(sub, workers=1)
    assert not info4["cached"]
    assert cache.load(cache.cache_path_for(info["key"]), sub.ids[::-1]) is None  # ids must match


def test_landmark_set_helpers():
    s = LandmarkSet(np.zeros((3, 68, 2), np.float32), np.array([0, 1, 3], np.uint8))
    assert s.present.tolist() == [True, False, False]
    assert s.reason_counts()["blank"] == 1 and s.reason_counts()["collapsed"] == 1
    assert s.subset(np.array([0])).points.shape == (1, 68, 2)


def test_predictor_is_the_offline_dlib_model():
    assert extract.predictor_path().endswith("shape_predictor_68_face_landmarks.dat")
