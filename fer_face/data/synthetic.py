"""A small generated face-like dataset with FER2013's shapes, for smoke runs without the real data.

Each 48x48 image is a shaded oval face with eyes, brows and a mouth; the class sets brow slant,
eye opening, mouth curvature and mouth opening (plus per-image jitter and noise), so models can learn
it in seconds but not perfectly. Fully deterministic from the seed.
"""

from __future__ import annotations

import numpy as np

from fer_face.data.dataset import IMAGE_SIZE

# per class: brow slant, eye opening, mouth curvature (+ = smile), mouth opening
_CLASS_SHAPE = {
    0: (0.9, 0.8, -0.5, 0.2),   # angry: brows down toward the nose, frown
    1: (0.5, 0.5, -0.8, 0.1),   # disgust: squint, strong frown
    2: (-0.7, 1.3, -0.2, 0.6),  # fear: raised brows, wide eyes, open mouth
    3: (0.0, 0.9, 1.0, 0.3),    # happy: smile
    4: (-0.5, 0.7, -0.7, 0.0),  # sad: brows up inside, frown, closed
    5: (-0.9, 1.4, 0.0, 1.0),   # surprise: raised brows, wide eyes, round open mouth
    6: (0.0, 1.0, 0.0, 0.0),    # neutral
}
SPLIT_SIZES = {"Training": 140, "PublicTest": 30, "PrivateTest": 30}  # per class


def near_any(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Pixels within (dx, dy) of any of the points (px, py): the strokes of a drawn line.

    ``x`` varies along columns only and ``y`` along rows only, so the test separates: pixel (i, j) is hit when
    some point is near column j and row i at once, a (rows x points) @ (points x columns) product.
    """
    near_col = np.abs(x[0][None, :] - px[:, None]) < dx  # points x columns
    near_row = np.abs(y[:, 0][None, :] - py[:, None]) < dy  # points x rows
    return (near_row.T.astype(np.int32) @ near_col.astype(np.int32)) > 0


def _face(rng: np.random.Generator, label: int) -> np.ndarray:
    slant, eye_open, curve, mouth_open = np.array(_CLASS_SHAPE[label]) + rng.normal(0, 0.25, 4)
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64)
    cx, cy = 24 + rng.normal(0, 1.5), 25 + rng.normal(0, 1.5)
    scale = rng.uniform(0.9, 1.1)
    x, y = (xx - cx) / scale, (yy - cy) / scale
    img = np.full((IMAGE_SIZE, IMAGE_SIZE), rng.uniform(30, 90))
    face = (x / 17) ** 2 + (y / 21) ** 2 <= 1
    img[face] = rng.uniform(140, 200) - 0.8 * y[face]
    for side in (-1, 1):
        ex, ey = side * 7.5, -5
        eye = ((x - ex) / 3.2) ** 2 + ((y - ey) / max(0.6, 1.6 * eye_open)) ** 2 <= 1
        img[eye] = 35
        # brow: a short line whose inner end is lowered by `slant`
        t = np.linspace(0, 1, 30)
        bx = ex + side * (-4 + 8 * t)
        by = ey - 5 - 2.2 * slant * (1 - t) + 0.8 * slant * t
        img[near_any(x, y, bx, by, 0.9, 0.9)] = 50
    # mouth: parabola y = my - curve * k * (x/8)^2, thickened by mouth opening
    mx = np.linspace(-8, 8, 60)
    my = 10 - curve * 3.0 * (1 - (mx / 8) ** 2)
    img[near_any(x, y, mx, my, 0.9, 0.9 + 2.2 * max(0.0, mouth_open))] = 40
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_synthetic(seed: int = 0, sizes: dict[str, int] | None = None):
    """Arrays (images, labels, ids, splits) of the synthetic smoke set."""
    sizes = sizes or SPLIT_SIZES
    rng = np.random.default_rng(seed)
    images, labels, ids, splits = [], [], [], []
    for split, per_class in sizes.items():
        for i in range(per_class * 7):
            label = i % 7
            images.append(_face(rng, label))
            labels.append(label)
            ids.append(f"synthetic-{split}-{i:05d}")
            splits.append(split)
    return np.stack(images), np.asarray(labels, np.int64), np.asarray(ids), np.asarray(splits)
