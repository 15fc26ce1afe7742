"""Geometric features of a 68-point landmark set (documented in docs/landmarks.md).

``geometric_features(points)`` maps raw pixel landmarks (N, 68, 2) to (N, D) features that are invariant
to translation, scale and in-plane rotation of the input points, because every feature is computed on
``geometry.normalise``-d points (eye midpoint at the origin, eye line = x axis, inter-ocular distance 1):

* ``coords``: the 136 normalised coordinates ``x00, y00, ..., x67, y67``;
* ``descriptors``: named distances, ratios, angles and curvatures among brows, eyes, nose, mouth and jaw
  (``DESCRIPTOR_NAMES``); left/right pairs are signed so that the mirror face swaps them;
* ``distances``: Euclidean distances between every pair of the 41 expressive points (brows, eye corners
  and lids, nose tip and base, outer and inner lips), 820 values, in inter-ocular units.

Rows whose landmarks are absent (NaN) give NaN rows.
"""

from __future__ import annotations

import itertools

import numpy as np

from fer_face.landmarks.appearance import GROUP as APPEARANCE_GROUP
from fer_face.landmarks.appearance import HOG_NAMES
from fer_face.landmarks.geometry import normalise

# Expressive points for the pairwise distances: brows, eye corners/lids, nose tip and base, lips.
EXPRESSIVE_POINTS = tuple(range(17, 27)) + (30, 31, 33, 35) + tuple(range(36, 48)) + tuple(range(48, 60)) + (
    61, 62, 63)
PAIRS = tuple(itertools.combinations(EXPRESSIVE_POINTS, 2))
FEATURE_GROUPS = ("coords", "descriptors", "distances")  # geometric: computed from the points alone
CHUNK = 4096  # rows per pass: bounds the (rows, pairs, 2) temporaries


def _dist(p: np.ndarray, i: int, j: int) -> np.ndarray:
    return np.linalg.norm(p[:, i] - p[:, j], axis=-1)


def _angle(p: np.ndarray, a: int, vertex: int, b: int) -> np.ndarray:
    """Angle (radians) at ``vertex`` between the rays to ``a`` and ``b``."""
    u, v = p[:, a] - p[:, vertex], p[:, b] - p[:, vertex]
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1) + 1e-12)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _slope(p: np.ndarray, a: int, b: int) -> np.ndarray:
    """Angle (radians) of the segment a -> b against the eye line; positive when b is lower than a."""
    d = p[:, b] - p[:, a]
    return np.arctan2(d[:, 1], np.abs(d[:, 0]) + 1e-12)


def _curvature(p: np.ndarray, idx: list[int]) -> np.ndarray:
    """Minus the second-order coefficient of the least-squares parabola y = a x^2 + b x + c through the
    points ``idx`` (inter-ocular units): positive when the ends lie higher on the image than the middle
    (a U shape, as the upper lip of a smile), negative for an arch."""
    x, y = p[:, idx, 0], p[:, idx, 1]
    x = x - x.mean(1, keepdims=True)
    design = np.stack([x ** 2, x, np.ones_like(x)], axis=-1)  # (N, k, 3)
    out = np.full(len(p), np.nan)
    ok = np.isfinite(design).all((1, 2)) & np.isfinite(y).all(1)
    if ok.any():
        a = design[ok]
        ata = np.einsum("nki,nkj->nij", a, a) + 1e-9 * np.eye(3)
        aty = np.einsum("nki,nk->ni", a, y[ok])
        out[ok] = np.linalg.solve(ata, aty[..., None])[:, 0, 0]
    return -out


def _descriptors(p: np.ndarray) -> dict[str, np.ndarray]:
    """Named descriptors of normalised points (N, 68, 2); y grows downward, eye line at y = 0."""
    y = p[..., 1]
    eye_open = {
        side: (_dist(p, a1, b1) + _dist(p, a2, b2)) / (2 * _dist(p, c1, c2) + 1e-12)
        for side, (a1, b1, a2, b2, c1, c2) in {"r": (37, 41, 38, 40, 36, 39), "l": (43, 47, 44, 46, 42, 45)}.items()
    }
    mouth_mid_y = (y[:, 51] + y[:, 57]) / 2
    d = {
        # eyes
        "eye_open_r": eye_open["r"], "eye_open_l": eye_open["l"],
        "eye_width_r": _dist(p, 36, 39), "eye_width_l": _dist(p, 42, 45),
        "eye_lid_gap_r": (_dist(p, 37, 41) + _dist(p, 38, 40)) / 2,
        "eye_lid_gap_l": (_dist(p, 43, 47) + _dist(p, 44, 46)) / 2,
        # brows: height above the eye line (inter-ocular units), slope, gap, distance to the upper lid
        "brow_inner_raise_r": -y[:, 21], "brow_inner_raise_l": -y[:, 22],
        "brow_mid_raise_r": -y[:, 19], "brow_mid_raise_l": -y[:, 24],
        "brow_outer_raise_r": -y[:, 17], "brow_outer_raise_l": -y[:, 26],
        "brow_slope_r": _slope(p, 17, 21), "brow_slope_l": _slope(p, 26, 22),
        "brow_gap": _dist(p, 21, 22),
        "brow_to_lid_r": (_dist(p, 19, 37) + _dist(p, 20, 38)) / 2,
        "brow_to_lid_l": (_dist(p, 24, 44) + _dist(p, 23, 43)) / 2,
        "brow_curvature_r": _curvature(p, [17, 18, 19, 20, 21]),
        "brow_curvature_l": _curvature(p, [22, 23, 24, 25, 26]),
        # nose
        "nose_width": _dist(p, 31, 35), "nose_length": _dist(p, 27, 33),
        "nose_to_lip": _dist(p, 33, 51),
        # mouth: size, openness, corners, curvature
        "mouth_width": _dist(p, 48, 54),
        "mouth_open_outer": _dist(p, 51, 57), "mouth_open_inner": _dist(p, 62, 66),
        "mouth_aspect": _dist(p, 62, 66) / (_dist(p, 60, 64) + 1e-12),
        "mouth_outer_aspect": _dist(p, 51, 57) / (_dist(p, 48, 54) + 1e-12),
        "mouth_corner_lift_r": mouth_mid_y - y[:, 48], "mouth_corner_lift_l": mouth_mid_y - y[:, 54],
        "mouth_corner_angle_r": _angle(p, 49, 48, 59), "mouth_corner_angle_l": _angle(p, 53, 54, 55),
        "mouth_height": (y[:, 62] + y[:, 66]) / 2,
        "upper_lip_curvature": _curvature(p, [48, 49, 50, 51, 52, 53, 54]),
        "lower_lip_curvature": _curvature(p, [54, 55, 56, 57, 58, 59, 48]),
        "inner_lip_curvature": _curvature(p, [60, 61, 62, 63, 64]),
        "upper_lip_thickness": _dist(p, 51, 62), "lower_lip_thickness": _dist(p, 57, 66),
        "corner_to_nose_r": _dist(p, 33, 48), "corner_to_nose_l": _dist(p, 33, 54),
        "corner_to_eye_r": _dist(p, 36, 48), "corner_to_eye_l": _dist(p, 45, 54),
        "mouth_nose_angle": _angle(p, 48, 33, 54),
        "upper_lip_angle": _angle(p, 48, 51, 54), "lower_lip_angle": _angle(p, 48, 57, 54),
        # jaw and head
        "chin_drop": y[:, 8], "chin_to_lip": _dist(p, 8, 57), "jaw_width": _dist(p, 4, 12),
        "yaw_proxy": (p[:, 30, 0] - (p[:, 0, 0] + p[:, 16, 0]) / 2) / (_dist(p, 0, 16) + 1e-12),
        "pitch_proxy": y[:, 30] / (y[:, 8] + 1e-12),
    }
    # asymmetries (right minus left) of the paired expressive descriptors
    for name in ("eye_open", "brow_inner_raise", "brow_outer_raise", "mouth_corner_lift"):
        d[f"{name}_asym"] = d[f"{name}_r"] - d[f"{name}_l"]
    return d


with np.errstate(invalid="ignore", divide="ignore"):
    DESCRIPTOR_NAMES: tuple[str, ...] = tuple(_descriptors(np.zeros((1, 68, 2))))
COORD_NAMES: tuple[str, ...] = tuple(f"{a}{i:02d}" for i in range(68) for a in "xy")
DISTANCE_NAMES: tuple[str, ...] = tuple(f"d{i:02d}_{j:02d}" for i, j in PAIRS)


def feature_names(groups: tuple[str, ...] = FEATURE_GROUPS) -> list[str]:
    """Column names of ``groups``, geometric ones and the appearance group (HOG of the landmark-aligned face)."""
    names = {"coords": COORD_NAMES, "descriptors": DESCRIPTOR_NAMES, "distances": DISTANCE_NAMES,
             APPEARANCE_GROUP: HOG_NAMES}
    unknown = set(groups) - set(names)
    if unknown:
        raise ValueError(f"unknown feature group(s) {sorted(unknown)}; choose from {(*FEATURE_GROUPS, APPEARANCE_GROUP)}")
    return [n for g in groups for n in names[g]]


def features_of_normalised(p: np.ndarray, groups: tuple[str, ...] = FEATURE_GROUPS) -> np.ndarray:
    p = np.asarray(p, np.float64)
    parts = []
    for g in groups:
        if g == "coords":
            parts.append(p.reshape(len(p), -1))
        elif g == "descriptors":
            with np.errstate(invalid="ignore", divide="ignore"):
                parts.append(np.stack(list(_descriptors(p).values()), axis=1))
        elif g == "distances":
            i, j = np.array(PAIRS).T
            parts.append(np.linalg.norm(p[:, i] - p[:, j], axis=-1))
        else:
            raise ValueError(f"unknown geometric feature group {g!r}; choose from {FEATURE_GROUPS}")
    return np.concatenate(parts, axis=1)


def geometric_features(points: np.ndarray, groups: tuple[str, ...] = FEATURE_GROUPS) -> np.ndarray:
    """(N, 68, 2) or (68, 2) pixel landmarks -> (N, D) float64 features (NaN rows where points are NaN)."""
    points = np.asarray(points, np.float64)
    if points.ndim == 2:
        points = points[None]
    if points.shape[1:] != (68, 2):
        raise ValueError(f"expected landmarks of shape (N, 68, 2), got {points.shape}")
    if len(points) <= CHUNK:
        return features_of_normalised(normalise(points), groups)
    return np.concatenate([features_of_normalised(normalise(points[s:s + CHUNK]), groups)
                           for s in range(0, len(points), CHUNK)])
