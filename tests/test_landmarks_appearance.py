"""The landmark-aligned HOG feature group: the warp, its mirror symmetry, photos, absent faces, a run end to end."""

import json

import numpy as np
import pytest

from fer_core import artifact
from fer_core.cli import main
from fer_core.errors import UserError
from fer_face.landmarks.appearance import EYE_DISTANCE, EYE_MIDPOINT, HOG_NAMES, SIDE, aligned_faces, aligned_hog
from fer_face.landmarks.geometry import LEFT_EYE, RIGHT_EYE, mirror
from fer_face.landmarks.model import features_with_mirror

GROUPS_WITH_HOG = '["coords", "descriptors", "distances", "aligned_hog"]'


def _two_dot_face(side: int, right_eye: tuple[float, float], left_eye: tuple[float, float]):
    """A dark image with a bright dot on each eye, and a landmark set whose eye points sit on the dots."""
    image = np.zeros((side, side), np.uint8)
    yy, xx = np.mgrid[:side, :side]
    radius = max(1.0, side / 48)
    for cx, cy in (right_eye, left_eye):
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = 255
    points = np.full((68, 2), side / 2, np.float64)
    points[RIGHT_EYE], points[LEFT_EYE] = right_eye, left_eye
    return image, points


def _bright_spots(face: np.ndarray) -> list[tuple[float, float]]:
    """Centroids (x, y) of the bright pixels in the left and right halves of an aligned face."""
    spots = []
    for half in (slice(0, SIDE // 2), slice(SIDE // 2, SIDE)):
        part = np.zeros_like(face)
        part[:, half] = face[:, half]
        ys, xs = np.nonzero(part > 100)
        w = part[ys, xs]
        spots.append((float((xs * w).sum() / w.sum()), float((ys * w).sum() / w.sum())))
    return spots


@pytest.mark.parametrize("right_eye, left_eye", [((14.0, 20.0), (34.0, 16.0)),   # tilted, wider than canonical
                                                 ((18.0, 22.0), (30.0, 22.0))])  # level, narrower
def test_alignment_puts_the_eyes_on_the_canonical_positions(right_eye, left_eye):
    image, points = _two_dot_face(48, right_eye, left_eye)
    faces, ok = aligned_faces(image[None], points[None])
    assert ok.all() and faces.shape == (1, SIDE, SIDE)
    (rx, ry), (lx, ly) = _bright_spots(faces[0])
    cx, cy = EYE_MIDPOINT
    assert rx == pytest.approx(cx - EYE_DISTANCE / 2, abs=0.6) and lx == pytest.approx(cx + EYE_DISTANCE / 2, abs=0.6)
    assert ry == pytest.approx(cy, abs=0.6) and ly == pytest.approx(cy, abs=0.6)


def test_a_large_photo_aligns_like_the_small_face():
    small, p_small = _two_dot_face(48, (15.0, 19.0), (33.0, 19.0))
    big, p_big = _two_dot_face(480, (150.0, 190.0), (330.0, 190.0))
    faces, ok = aligned_faces([small, big], np.stack([p_small, p_big]))
    assert ok.all()
    for a, b in zip(_bright_spots(faces[0]), _bright_spots(faces[1])):
        assert a == pytest.approx(b, abs=0.6)


def test_mirror_features_are_the_features_of_the_mirrored_face():
    rng = np.random.default_rng(0)
    image, points = _two_dot_face(48, (15.0, 18.0), (33.0, 18.0))
    image = np.clip(image.astype(int) + rng.integers(0, 120, image.shape), 0, 255).astype(np.uint8)
    image[30:34, 16:32] = 250  # an off-centre "mouth" so that the face is not symmetric
    image[30:34, 16:20] = 0
    hog, hog_m = aligned_hog(image[None], points[None])
    flipped_hog, flipped_hog_m = aligned_hog(image[None, :, ::-1], mirror(points, width=48)[None])
    assert hog.shape == (1, len(HOG_NAMES)) and np.isfinite(hog).all()
    # equal up to float32 resampling, which can tip a gradient into the neighbouring orientation bin
    for a, b in ((flipped_hog, hog_m), (flipped_hog_m, hog)):
        assert np.abs(a - b).max() < 0.02 and np.abs(a - b).mean() < 1e-3
    assert np.abs(hog - hog_m).max() > 0.05, "the mirror of an asymmetric face differs"


def test_absent_landmarks_give_nan_rows_and_images_are_required():
    image, points = _two_dot_face(48, (15.0, 18.0), (33.0, 18.0))
    both = np.stack([points, np.full((68, 2), np.nan)])
    hog, hog_m = aligned_hog(np.stack([image, image]), both)
    assert np.isfinite(hog[0]).all() and np.isnan(hog[1]).all() and np.isnan(hog_m[1]).all()
    f, fm = features_with_mirror(both, ("coords", "aligned_hog"), np.stack([image, image]))
    assert f.shape == (2, 136 + len(HOG_NAMES)) and np.isnan(f[1]).all() and np.isfinite(fm[0]).all()
    with pytest.raises(UserError, match="needs the face images"):
        features_with_mirror(both, ("coords", "aligned_hog"))


def test_a_run_with_the_aligned_hog_group_trains_evaluates_and_predicts(tmp_path):
    from fer_face.data.synthetic import make_synthetic
    from fer_face.landmarks.predict import LandmarkPredictor

    out = tmp_path / "hog"
    assert main(["landmarks", "train", "--data", "synthetic", "--out", str(out), "--epochs", "3", "--no-progress",
                 "--workers", "2", "--set", "mlp.hidden=[32]", "--set", "mlp.members=1",
                 "--set", f"features.groups={GROUPS_WITH_HOG}"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["num_features"] == 1009 + len(HOG_NAMES)
    assert artifact.load_run(out, "PrivateTest").probs.shape[1] == 7
    before = json.loads((out / "metrics.json").read_text())
    assert main(["landmarks", "evaluate", str(out), "--data", "synthetic"]) == 0
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == before["accuracy"]
    images, *_ = make_synthetic(3, {"Training": 1, "PublicTest": 0, "PrivateTest": 0})
    r = LandmarkPredictor.from_run(out).predict_image(images[0])
    assert r["present"] and r["probs"].sum() == pytest.approx(1.0)
