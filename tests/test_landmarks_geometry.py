"""Landmark normalisation, mirroring and features: invariances and layout (no dlib, no data)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fer_face.landmarks.features import (DESCRIPTOR_NAMES, feature_names, features_of_normalised,
                                         geometric_features)
from fer_face.landmarks.geometry import MIRROR_INDEX, eye_centres, interocular_distance, mirror, normalise

RNG = np.random.default_rng(0)


def face_like(seed: int = 0) -> np.ndarray:
    """A plausible 68-point face (pixel coordinates of a ~100 px face) with some per-point jitter."""
    rng = np.random.default_rng(seed)
    t = np.linspace(-1, 1, 17)
    jaw = np.stack([50 + 45 * t, 55 + 40 * (1 - t ** 2) ** 0.5 * 0.9 + 5], 1)
    brow_r = np.stack([20 + 5 * np.arange(5), [38, 35, 34, 35, 37]], 1)
    brow_l = np.stack([58 + 5 * np.arange(5), [37, 35, 34, 35, 38]], 1)
    bridge = np.stack([[50] * 4, [42, 48, 54, 60]], 1)
    nostrils = np.stack([42 + 4 * np.arange(5), [65, 66, 67, 66, 65]], 1)

    def eye(cx):
        a = np.linspace(0, 2 * np.pi, 7)[:-1]
        return np.stack([cx - 8 * np.cos(a), 45 - 3 * np.sin(a)], 1)

    outer = np.linspace(0, 2 * np.pi, 13)[:-1]
    lips_o = np.stack([50 - 16 * np.cos(outer), 80 - 7 * np.sin(outer)], 1)
    inner = np.linspace(0, 2 * np.pi, 9)[:-1]
    lips_i = np.stack([50 - 10 * np.cos(inner), 80 - 2 * np.sin(inner)], 1)
    pts = np.concatenate([jaw, brow_r, brow_l, bridge, nostrils, eye(35), eye(65), lips_o, lips_i])
    assert pts.shape == (68, 2)
    return pts + rng.normal(0, 1.0, pts.shape)


def similarity(points, angle, scale, shift):
    c, s = np.cos(angle), np.sin(angle)
    return scale * points @ np.array([[c, s], [-s, c]]) + np.asarray(shift)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    angle=st.floats(-np.pi, np.pi, allow_nan=False),
    scale=st.floats(0.05, 50.0, allow_nan=False),
    dx=st.floats(-1e3, 1e3, allow_nan=False),
    dy=st.floats(-1e3, 1e3, allow_nan=False),
)
def test_normalisation_and_features_invariant_to_similarity(seed, angle, scale, dx, dy):
    base = face_like(seed)
    moved = similarity(base, angle, scale, (dx, dy))
    np.testing.assert_allclose(normalise(moved), normalise(base), atol=1e-7)
    np.testing.assert_allclose(geometric_features(moved), geometric_features(base), atol=1e-6, rtol=1e-6)


def test_normalised_eyes_are_fixed():
    n = normalise(np.stack([face_like(s) for s in range(5)]))
    right, left = eye_centres(n)
    np.testing.assert_allclose(right, np.tile([-0.5, 0.0], (5, 1)), atol=1e-12)
    np.testing.assert_allclose(left, np.tile([0.5, 0.0], (5, 1)), atol=1e-12)
    np.testing.assert_allclose(interocular_distance(n), 1.0)
    assert (n[:, 8, 1] > 0).all(), "chin below the eye line (y grows downward)"


def test_normalisation_is_not_invariant_to_non_similarity():
    base = face_like()
    squashed = base * np.array([1.0, 0.6])  # anisotropic: expression geometry really changes
    assert not np.allclose(normalise(squashed), normalise(base), atol=1e-3)


def test_coincident_eyes_give_nan_not_error():
    pts = face_like()
    pts[36:48] = pts[36:48].mean(0)
    assert np.isnan(normalise(pts)).all()
    assert np.isnan(geometric_features(pts)).all()


def test_mirror_index_is_an_involution_and_mirror_twice_is_identity():
    assert sorted(MIRROR_INDEX) == list(range(68))
    assert (MIRROR_INDEX[MIRROR_INDEX] == np.arange(68)).all()
    pts = face_like(3)
    np.testing.assert_allclose(mirror(mirror(pts, width=100), width=100), pts)
    np.testing.assert_allclose(mirror(mirror(pts)), pts)


def test_mirror_of_a_flipped_image_matches_and_swaps_sides():
    pts = face_like(4)
    flipped = mirror(pts, width=100)
    # the subject's right eye (36-41) stays on the image's left after flipping + re-indexing
    assert flipped[36:42, 0].mean() < flipped[42:48, 0].mean()
    f, fm = geometric_features(pts)[0], geometric_features(flipped)[0]
    names = feature_names()
    d = dict(zip(names, f))
    dm = dict(zip(names, fm))
    assert dm["eye_open_r"] == pytest.approx(d["eye_open_l"])
    assert dm["mouth_corner_lift_r"] == pytest.approx(d["mouth_corner_lift_l"])
    assert dm["mouth_width"] == pytest.approx(d["mouth_width"])


def test_feature_layout_and_semantics():
    pts = face_like()
    f = geometric_features(pts)
    assert f.shape == (1, len(feature_names())) and np.isfinite(f).all()
    assert len(feature_names(("coords",))) == 136
    assert len(set(feature_names())) == len(feature_names())
    d = dict(zip(DESCRIPTOR_NAMES, features_of_normalised(normalise(pts[None]), ("descriptors",))[0]))
    smile = pts.copy()
    smile[[48, 54], 1] -= 6  # lift both mouth corners
    ds = dict(zip(DESCRIPTOR_NAMES, features_of_normalised(normalise(smile[None]), ("descriptors",))[0]))
    assert ds["mouth_corner_lift_r"] > d["mouth_corner_lift_r"] and ds["mouth_corner_lift_l"] > d["mouth_corner_lift_l"]
    assert ds["upper_lip_curvature"] > d["upper_lip_curvature"]
    opened = pts.copy()
    opened[[65, 66, 67, 55, 56, 57, 58, 59], 1] += 8  # drop the lower lip
    do = dict(zip(DESCRIPTOR_NAMES, features_of_normalised(normalise(opened[None]), ("descriptors",))[0]))
    assert do["mouth_open_inner"] > d["mouth_open_inner"] and do["mouth_aspect"] > d["mouth_aspect"]
    with pytest.raises(ValueError, match="unknown feature group"):
        feature_names(("nope",))
    with pytest.raises(ValueError, match="68, 2"):
        geometric_features(np.zeros((3, 5, 2)))


def test_batched_features_match_single_and_chunking():
    from fer_face.landmarks import features

    pts = np.stack([face_like(s) for s in range(9)])
    pts[4] = np.nan
    batch = geometric_features(pts)
    assert np.isnan(batch[4]).all() and np.isfinite(np.delete(batch, 4, 0)).all()
    np.testing.assert_allclose(batch[2], geometric_features(pts[2])[0])
    old = features.CHUNK
    try:
        features.CHUNK = 2
        np.testing.assert_allclose(geometric_features(pts), batch, equal_nan=True)
    finally:
        features.CHUNK = old
