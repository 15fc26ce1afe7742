"""Landmarks, features, detector and the committed reference run on a few hundred real FER2013 images.

Images are read straight from the archive (no full decode); skipped when FER2013 is absent.
"""

import io
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image

from fer_core.labels import FER7, canonical_emotion

pytestmark = pytest.mark.realdata
REPO = Path(__file__).resolve().parents[1]
REFERENCE_RUN = REPO / "results" / "fer2013" / "landmarks_geometry"
PER_CLASS = 43  # 7 x 43 = 301 images


@pytest.fixture(scope="module")
def fer_sample(fer2013_zip):
    """~300 PrivateTest images, balanced over classes: (ids, uint8 (N, 48, 48), labels)."""
    by_class: dict[int, list[str]] = {k: [] for k in range(7)}
    with zipfile.ZipFile(fer2013_zip) as zf:
        for name in sorted(zf.namelist()):
            parts = PurePosixPath(name).parts
            if len(parts) >= 2 and parts[-1].startswith("PrivateTest_") and canonical_emotion(parts[-2]) is not None:
                k = FER7.index(canonical_emotion(parts[-2]))
                if len(by_class[k]) < PER_CLASS:
                    by_class[k].append(name)
        names = [n for k in range(7) for n in by_class[k]]
        images = np.stack([np.asarray(Image.open(io.BytesIO(zf.read(n))).convert("L")) for n in names])
    labels = np.array([k for k in range(7) for _ in by_class[k]])
    ids = np.array([PurePosixPath(n).name for n in names])
    assert images.shape[1:] == (48, 48) and len(ids) >= 250
    return ids, images, labels


@pytest.fixture(scope="module")
def sample_landmarks(fer_sample):
    from fer_face.landmarks.batch import extract_crops

    return extract_crops(fer_sample[1], workers=1)


def test_real_extraction_is_nearly_complete_and_plausible(fer_sample, sample_landmarks):
    from fer_face.landmarks.geometry import normalise

    lms = sample_landmarks
    assert lms.present.mean() >= 0.97, lms.reason_counts()
    pts = lms.points[lms.present]
    assert np.isfinite(pts).all()
    assert (pts > -8).all() and (pts < 56).all(), "points stay around the 48x48 crop"
    mean_shape = np.nanmean(normalise(pts), axis=0)
    assert mean_shape[8, 1] > mean_shape[33, 1] > mean_shape[27, 1] > mean_shape[21, 1]  # chin > nose > bridge > brow
    assert mean_shape[57, 1] > mean_shape[51, 1] > mean_shape[33, 1]  # lower lip > upper lip > nose tip


def test_real_features_carry_expression(fer_sample, sample_landmarks):
    from fer_face.landmarks.features import DESCRIPTOR_NAMES, geometric_features

    _, _, labels = fer_sample
    f = geometric_features(sample_landmarks.points, ("descriptors",))
    d = {name: f[:, i] for i, name in enumerate(DESCRIPTOR_NAMES)}
    happy, surprise = labels == FER7.index("happy"), labels == FER7.index("surprise")
    others = ~(happy | surprise) & np.isfinite(f).all(1)
    lift = (d["mouth_corner_lift_r"] + d["mouth_corner_lift_l"]) / 2
    assert np.nanmean(lift[happy]) > np.nanmean(lift[others])
    assert np.nanmean(d["mouth_open_inner"][surprise]) > np.nanmean(d["mouth_open_inner"][others])
    brow = (d["brow_mid_raise_r"] + d["brow_mid_raise_l"]) / 2
    assert np.nanmean(brow[surprise]) > np.nanmean(brow[others])


def test_detector_and_photo_landmarks_on_a_composite_photo(fer_sample):
    from fer_face.faces import best_face
    from fer_face.landmarks.extract import landmarks_in_photo

    _, images, _ = fer_sample
    hits = 0
    for img in images[::37][:8]:
        canvas = np.full((360, 480), 90, np.uint8)
        canvas[100:260, 200:360] = np.asarray(Image.fromarray(img).resize((160, 160), Image.Resampling.BICUBIC))
        face = best_face(canvas)
        if face is None:
            continue
        box = face.box
        hits += 1
        cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
        assert 200 < cx < 360 and 100 < cy < 260
        lm = landmarks_in_photo(canvas)
        assert lm.present
        inside = (lm.points[:, 0] > 180) & (lm.points[:, 0] < 380) & (lm.points[:, 1] > 80) & (lm.points[:, 1] < 280)
        assert inside.mean() >= 0.9  # a jaw point may stray past the pasted face; the fit must sit on it
    assert hits >= 2, "the HOG detector finds upscaled FER2013 faces in most cases"


def test_committed_reference_run(fer_sample):
    if not (REFERENCE_RUN / "metrics.json").is_file():
        pytest.skip(f"no reference run at {REFERENCE_RUN}")
    import json

    from fer_core.artifact import load_run
    from fer_face.landmarks.predict import LandmarkPredictor

    metrics = json.loads((REFERENCE_RUN / "metrics.json").read_text())
    for split in ("PublicTest", "PrivateTest"):
        a = load_run(REFERENCE_RUN, split)
        if split == "PrivateTest":  # PublicTest is the calibration split by design
            a.check_no_leakage()
        assert a.modality == "landmarks" and a.dataset == "fer2013" and a.n == 3589
    assert metrics["split"] == "PrivateTest" and metrics["accuracy"] >= 0.50 and metrics["ece"] <= 0.02
    # ECE within the sampling noise of a perfectly calibrated model with the same probabilities and n
    assert metrics["ece"] <= metrics["ece_of_perfect_calibration"]["p95"]
    ids, images, labels = fer_sample
    pred = LandmarkPredictor.from_run(REFERENCE_RUN)
    out = [pred.predict_image(img, mode="crop") for img in images]
    ok = np.array([o["present"] for o in out])
    probs = np.stack([o["probs"] for o in out if o["present"]])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    acc = (probs.argmax(1) == labels[ok]).mean()
    assert acc > 0.35, f"accuracy {acc:.3f} on a balanced PrivateTest sample"
    # the predictor reproduces the committed artifact for the same images
    committed = load_run(REFERENCE_RUN, "PrivateTest")
    row = {i: k for k, i in enumerate(committed.ids)}
    k = [row[i] for i in ids[ok][:20]]
    np.testing.assert_allclose(probs[:20], committed.probs[k], atol=1e-4)
