"""Builders for small synthetic FER2013 sources in each layout, from the same pixels."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from fer_core.labels import FER7

SPLIT_FOLDER = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}


def make_pixels(per_class: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for split in ("Training", "PublicTest", "PrivateTest"):
        for label in range(7):
            for _ in range(per_class):
                rows.append((label, rng.integers(0, 256, (48, 48), dtype=np.uint8), split))
    return rows


def write_csv(rows, path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for label, img, split in rows:
            w.writerow([label, " ".join(map(str, img.ravel())), split])
    return path


def write_folder(rows, root: Path, class_names=FER7, prefix: bool = True) -> Path:
    for i, (label, img, split) in enumerate(rows, start=1):
        d = root / SPLIT_FOLDER[split] / class_names[label]
        d.mkdir(parents=True, exist_ok=True)
        name = f"{split}_{i:05d}.png" if prefix else f"img_{i:05d}.png"
        Image.fromarray(img).save(d / name)  # PNG: lossless, so all layouts decode to the same pixels
    return root


def write_zip(folder: Path, path: Path, top: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, (Path(top) / p.relative_to(folder)).as_posix())
    return path
