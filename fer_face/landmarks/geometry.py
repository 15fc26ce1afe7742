"""The 68-point iBUG-300W layout, similarity normalisation and mirroring of landmark sets.

Point groups (0-based, "right"/"left" are the subject's; the subject's right eye is on the image's left):

    jaw 0-16, right brow 17-21, left brow 22-26, nose bridge 27-30, nostrils 31-35,
    right eye 36-41, left eye 42-47, outer lips 48-59, inner lips 60-67.

Every function takes ``(..., 68, 2)`` arrays (x right, y down, pixels) and works on any batch shape.
"""

from __future__ import annotations

import numpy as np

N_POINTS = 68
RIGHT_EYE = np.arange(36, 42)
LEFT_EYE = np.arange(42, 48)

# Index of each point's mirror image under a horizontal flip of the face.
MIRROR_INDEX = np.array(
    list(range(16, -1, -1))                      # jaw
    + list(range(26, 16, -1))                    # brows
    + [27, 28, 29, 30]                           # nose bridge
    + [35, 34, 33, 32, 31]                       # nostrils
    + [45, 44, 43, 42, 47, 46]                   # right eye <- left eye
    + [39, 38, 37, 36, 41, 40]                   # left eye <- right eye
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]           # inner lips
)


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the subject's right eye (image left) and left eye, each ``(..., 2)``."""
    points = np.asarray(points, np.float64)
    return points[..., RIGHT_EYE, :].mean(-2), points[..., LEFT_EYE, :].mean(-2)


def interocular_distance(points: np.ndarray) -> np.ndarray:
    right, left = eye_centres(points)
    return np.linalg.norm(left - right, axis=-1)


def normalise(points: np.ndarray) -> np.ndarray:
    """Remove translation, scale and in-plane rotation.

    The midpoint between the eye centres goes to the origin, the eye line becomes the x axis (the
    subject's left eye on +x) and the inter-ocular distance becomes 1; so the eye centres land on
    (-0.5, 0) and (0.5, 0), and y grows towards the chin. Sets whose eyes coincide give NaN.
    """
    points = np.asarray(points, np.float64)
    right, left = eye_centres(points)
    centre = (right + left) / 2
    d = left - right
    iod = np.linalg.norm(d, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos, sin = d[..., 0] / iod, d[..., 1] / iod
        p = points - centre[..., None, :]
        x = (p[..., 0] * cos[..., None] + p[..., 1] * sin[..., None]) / iod[..., None]
        y = (-p[..., 0] * sin[..., None] + p[..., 1] * cos[..., None]) / iod[..., None]
    out = np.stack([x, y], axis=-1)
    out[~(iod > 0)] = np.nan
    return out


def mirror(points: np.ndarray, width: float | None = None) -> np.ndarray:
    """The landmark set of the horizontally flipped face.

    With ``width`` the points are pixel coordinates in an image of that width (x -> width - 1 - x);
    without, x -> -x (for normalised sets, whose mirror is again normalised).
    """
    points = np.asarray(points, np.float64)
    out = points[..., MIRROR_INDEX, :].copy()
    out[..., 0] = (width - 1 - out[..., 0]) if width is not None else -out[..., 0]
    return out
