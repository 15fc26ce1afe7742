"""Appearance guided by the landmarks: the face warped to a canonical pose, described by HOG.

``aligned_faces(images, points)`` applies to every face the similarity transform (rotation, scale,
shift) that puts its eye centres on fixed positions of a ``SIDE`` x ``SIDE`` image; the defaults are
FER2013's medians (inter-ocular distance 18 px, eye midpoint at (23.5, 18)), so a typical FER2013 face
keeps its size. ``aligned_hog`` describes the aligned face, and its mirror image, by scikit-image's
histogram of oriented gradients. Geometry says where the brows and lips are; HOG adds what the landmarks
cannot see (wrinkles, teeth, the nasolabial fold). Faces without landmarks give NaN rows.
"""

from __future__ import annotations

import numpy as np

from fer_face.landmarks.geometry import eye_centres

GROUP = "aligned_hog"  # the feature-group name in ``features.groups``
SIDE = 48
EYE_DISTANCE = 18.0  # px between the eye centres in the aligned face
EYE_MIDPOINT = (23.5, 18.0)  # (x, y) px; on the vertical centre line, so the mirror of an aligned face is aligned
HOG_PARAMS = {"orientations": 9, "pixels_per_cell": (6, 6), "cells_per_block": (2, 2)}
PRESCALE_ABOVE = 1.5  # shrink a face with antialiasing first when it is this many times larger than SIDE
CHUNK = 2048


def hog_size() -> int:
    cells = SIDE // HOG_PARAMS["pixels_per_cell"][0]
    blocks = cells - HOG_PARAMS["cells_per_block"][0] + 1
    return blocks * blocks * HOG_PARAMS["cells_per_block"][0] ** 2 * HOG_PARAMS["orientations"]


HOG_NAMES: tuple[str, ...] = tuple(f"hog{i:04d}" for i in range(hog_size()))


def _affine(points: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per face, the (2, 3) matrix for ``torch.nn.functional.affine_grid`` (normalised coordinates,
    align_corners=True) mapping aligned-face pixels to input pixels, and which faces have usable eyes."""
    right, left = eye_centres(points)
    centre, d = (right + left) / 2, left - right
    iod = np.linalg.norm(d, axis=-1)
    ok = np.isfinite(iod) & (iod > 0)
    scale = np.where(ok, iod, EYE_DISTANCE) / EYE_DISTANCE
    angle = np.where(ok, np.arctan2(d[:, 1], d[:, 0]), 0.0)
    centre = np.where(ok[:, None], centre, 0.0)
    a, b = scale * np.cos(angle), scale * np.sin(angle)
    # input pixel = centre + R(angle) * scale * (output pixel - EYE_MIDPOINT); then both sides to [-1, 1]
    ko, kx, ky = (SIDE - 1) / 2, (width - 1) / 2, (height - 1) / 2
    ux, uy = ko - EYE_MIDPOINT[0], ko - EYE_MIDPOINT[1]
    m = np.zeros((len(points), 2, 3))
    m[:, 0, 0], m[:, 0, 1] = a * ko / kx, -b * ko / kx
    m[:, 1, 0], m[:, 1, 1] = b * ko / ky, a * ko / ky
    m[:, 0, 2] = (centre[:, 0] + a * ux - b * uy - kx) / kx
    m[:, 1, 2] = (centre[:, 1] + b * ux + a * uy - ky) / ky
    return m, ok


def _shrunk(image: np.ndarray, points: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """A large face (in a photo) shrunk ``factor`` times with antialiasing, so that the warp resamples near 1:1."""
    from PIL import Image

    h, w = image.shape
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    small = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize(size, Image.Resampling.BOX))
    return small, points * np.array([size[0] / w, size[1] / h])


def aligned_faces(images: np.ndarray | list[np.ndarray], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) uint8 grey faces (or a list of N differently sized ones) and their (N, 68, 2) pixel landmarks
    -> (N, SIDE, SIDE) float32 aligned faces in [0, 255] (NaN where the eyes are unusable) and that mask."""
    points = np.asarray(points, np.float64)
    if len(images) != len(points):
        raise ValueError(f"{len(images)} images but {len(points)} landmark sets")
    faces, ok = np.full((len(points), SIDE, SIDE), np.nan, np.float32), np.zeros(len(points), bool)
    factor = np.linalg.norm(np.subtract(*eye_centres(points)), axis=-1) / EYE_DISTANCE
    large = np.isfinite(factor) & (factor > PRESCALE_ABOVE)
    same_size = isinstance(images, np.ndarray) and images.ndim == 3
    one_by_one = np.flatnonzero(large | (not same_size))
    for k in one_by_one:
        im, p = np.asarray(images[k]), points[k]
        if large[k]:
            im, p = _shrunk(im, p, float(factor[k]))
        face, usable = _warp(im[None], p[None])
        faces[k], ok[k] = face[0], usable[0]
    batch = np.setdiff1d(np.arange(len(points)), one_by_one)
    for s in range(0, len(batch), CHUNK):
        idx = batch[s:s + CHUNK]
        faces[idx], ok[idx] = _warp(images[idx], points[idx])
    return faces, ok


def _warp(images: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torch.nn.functional as F

    n, h, w = images.shape
    m, ok = _affine(points, h, w)
    grid = F.affine_grid(torch.from_numpy(m).float(), [n, 1, SIDE, SIDE], align_corners=True)
    src = torch.from_numpy(np.ascontiguousarray(images, np.float32))[:, None]
    faces = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)[:, 0].numpy()
    faces[~ok] = np.nan
    return faces, ok


def aligned_hog(images: np.ndarray | list[np.ndarray], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HOG of the aligned faces and of their mirror images, float32 (N, len(HOG_NAMES)) each; NaN rows
    where the landmarks are absent."""
    from skimage.feature import hog

    faces, ok = aligned_faces(images, points)
    out = np.full((2, len(faces), len(HOG_NAMES)), np.nan, np.float32)
    for k in np.flatnonzero(ok):
        out[0, k] = hog(faces[k], **HOG_PARAMS)
        out[1, k] = hog(faces[k, :, ::-1], **HOG_PARAMS)
    return out[0], out[1]
