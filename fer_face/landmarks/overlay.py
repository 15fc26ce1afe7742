"""Draw the 68 landmarks (and the face box) on an image: the PNG the CLI writes and the dashboard shows."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from fer_face.faces import to_gray

# colour per point group (jaw, brows, nose, eyes, lips)
GROUP_COLOURS = (
    (range(0, 17), (255, 200, 0)),
    (range(17, 27), (255, 80, 80)),
    (range(27, 36), (80, 200, 255)),
    (range(36, 48), (80, 255, 120)),
    (range(48, 68), (255, 90, 220)),
)
CONTOURS = [list(range(0, 17)), list(range(17, 22)), list(range(22, 27)), list(range(27, 31)), list(range(31, 36)),
            list(range(36, 42)) + [36], list(range(42, 48)) + [42], list(range(48, 60)) + [48],
            list(range(60, 68)) + [60]]
MIN_SIDE = 384  # small inputs (48x48 crops) are enlarged so the points stay visible


def draw_landmarks(image: Image.Image | np.ndarray, points: np.ndarray | None,
                   box: Sequence[float] | None = None, min_side: int = MIN_SIDE) -> Image.Image:
    """An RGB copy of ``image`` (enlarged to at least ``min_side`` px) with the points drawn on it.

    ``points`` are (68, 2) pixel coordinates of ``image``; None draws only the box (if any).
    """
    if not isinstance(image, Image.Image):
        a = np.asarray(image)
        image = Image.fromarray(a if a.ndim == 3 and a.dtype == np.uint8 and a.shape[2] == 3 else to_gray(a))
    img = image.convert("RGB")
    scale = max(1.0, min_side / max(1, min(img.size)))
    if scale > 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    lw = max(1, round(min(img.size) / 250))
    if box is not None:
        l, t, r, b = (float(v) * scale for v in box)
        draw.rectangle([l, t, r, b], outline=(255, 255, 255), width=lw)
    if points is not None:
        p = (np.asarray(points, np.float64) + 0.5) * scale - 0.5
        for idx in CONTOURS:
            draw.line([tuple(p[i]) for i in idx], fill=(230, 230, 230), width=lw)
        rad = max(1.5, min(img.size) / 140)
        for group, colour in GROUP_COLOURS:
            for i in group:
                x, y = p[i]
                draw.ellipse([x - rad, y - rad, x + rad, y + rad], fill=colour)
    return img
