"""Landmarks for many face crops at once, in parallel worker processes (one shape predictor each)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from dataclasses import dataclass

import numpy as np

from fer_face.landmarks.extract import REASONS, get_predictor, landmarks_in_crop

CHUNK = 256  # images per task: large enough to amortise IPC, small enough for a smooth progress bar


@dataclass
class LandmarkSet:
    """Landmarks of N images: ``points`` (N, 68, 2) float32, NaN rows where ``present`` is False."""

    points: np.ndarray
    reason: np.ndarray  # (N,) uint8: 0 = present, k = REASONS[k - 1]

    @property
    def present(self) -> np.ndarray:
        return self.reason == 0

    def reason_counts(self) -> dict[str, int]:
        counts = np.bincount(self.reason, minlength=len(REASONS) + 1)
        return {name: int(counts[k + 1]) for k, name in enumerate(REASONS)}

    def subset(self, index: np.ndarray) -> "LandmarkSet":
        return LandmarkSet(self.points[index], self.reason[index])


def _extract_chunk(args: tuple[np.ndarray, bool]) -> tuple[np.ndarray, np.ndarray]:
    images, mirror_average = args
    points = np.full((len(images), 68, 2), np.nan, np.float32)
    reason = np.zeros(len(images), np.uint8)
    for i, img in enumerate(images):
        lm = landmarks_in_crop(img, mirror_average=mirror_average)
        if lm.points is not None:
            points[i] = lm.points
        else:
            reason[i] = REASONS.index(lm.reason) + 1
    return points, reason


def _init_worker() -> None:
    get_predictor()


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def extract_crops(images: np.ndarray, *, workers: int | None = None, mirror_average: bool = True,
                  progress: bool = False, desc: str = "landmarks") -> LandmarkSet:
    """Landmarks of uint8 face crops (N, H, W); ``workers`` processes (default: all usable cores)."""
    from tqdm.auto import tqdm

    images = np.asarray(images, np.uint8)
    n = len(images)
    workers = default_workers() if workers is None else max(1, int(workers))
    chunks = [(images[s:s + CHUNK], mirror_average) for s in range(0, n, CHUNK)]
    points = np.full((n, 68, 2), np.nan, np.float32)
    reason = np.zeros(n, np.uint8)
    bar = tqdm(total=n, desc=desc, unit="img", disable=not progress, mininterval=0.5, file=sys.stderr)
    pool = None
    if workers > 1 and len(chunks) > 1:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool = mp.get_context(method).Pool(min(workers, len(chunks)), initializer=_init_worker)
    try:
        results = pool.imap(_extract_chunk, chunks) if pool is not None else map(_extract_chunk, chunks)
        start = 0
        for p, r in results:
            points[start:start + len(r)] = p
            reason[start:start + len(r)] = r
            start += len(r)
            bar.update(len(r))
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()  # all results are in (or we are unwinding): stop the workers now
            pool.join()
    return LandmarkSet(points, reason)
