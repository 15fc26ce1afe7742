"""The decoded dataset held in memory: uint8 images, canonical labels, stable ids, split names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer_core.labels import FER7

SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
IMAGE_SIZE = 48


@dataclass
class FER2013Data:
    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, index into FER7
    ids: np.ndarray  # (N,) str, stable sample ids (join key for every branch)
    splits: np.ndarray  # (N,) str, one of SPLITS
    source: str  # path or "synthetic"
    layout: str  # csv | folder | zip | synthetic
    name: str = "fer2013"  # dataset name written into every artifact ("synthetic" for the smoke set)
    notes: list[str] = field(default_factory=list)  # things the user must know (derived splits, resizes)
    cache_path: str | None = None
    label_space: tuple[str, ...] = FER7

    @property
    def synthetic(self) -> bool:
        return self.layout == "synthetic"

    def __len__(self) -> int:
        return len(self.labels)

    def mask(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise KeyError(f"unknown split {split!r}; expected one of {SPLITS}")
        return self.splits == split

    def split_arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        m = self.mask(split)
        return self.images[m], self.labels[m]

    def split_ids(self, split: str) -> np.ndarray:
        return self.ids[self.mask(split)]

    def counts(self) -> dict[str, list[int]]:
        """Per split, the number of images of each class (FER7 order)."""
        return {
            s: np.bincount(self.labels[self.splits == s], minlength=len(self.label_space)).tolist() for s in SPLITS
        }
