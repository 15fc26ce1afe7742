"""Extract once: a dataset's landmarks are cached in one .npz next to the decoded-data cache.

The key hashes what the landmarks depend on: the sample ids and image bytes (so any source of the same
images, zip or CSV, and the synthetic set too, maps to the right entry), the extractor settings and
the predictor file. The file is written atomically; a broken or mismatching cache is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from fer_core.atomic import atomic_path
from fer_face.data.cache import cache_dir
from fer_face.landmarks import extract
from fer_face.landmarks.batch import LandmarkSet, default_workers, extract_crops

CACHE_VERSION = 1


def extractor_settings(mirror_average: bool = True) -> dict:
    return {
        "cache_version": CACHE_VERSION,
        "predictor": os.path.basename(extract.predictor_path()),
        "predictor_bytes": os.path.getsize(extract.predictor_path()),
        "upscale_side": extract.UPSCALE_SIDE,
        "crop_face_box": list(extract.CROP_FACE_BOX),
        "mirror_average": mirror_average,
        "thresholds": {"min_spread": extract.MIN_SPREAD, "min_eye_distance": extract.MIN_EYE_DISTANCE,
                       "max_outside": extract.MAX_OUTSIDE, "min_contrast": extract.MIN_CONTRAST},
    }


def dataset_key(ids: np.ndarray, images: np.ndarray, settings: dict) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    h.update(f"|{images.shape}|".encode())
    h.update("\n".join(map(str, ids)).encode())
    h.update(np.ascontiguousarray(images, np.uint8).tobytes())
    return h.hexdigest()


def cache_path_for(key: str) -> Path:
    return cache_dir() / f"landmarks-{key[:20]}.npz"


def load(path: Path, ids: np.ndarray) -> LandmarkSet | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            points, reason, cached_ids = z["points"], z["reason"], z["ids"]
        if points.shape != (len(ids), 68, 2) or reason.shape != (len(ids),) or not np.array_equal(cached_ids, ids):
            return None
        return LandmarkSet(points.astype(np.float32), reason.astype(np.uint8))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def save(path: Path, ids: np.ndarray, lms: LandmarkSet, meta: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, points=lms.points, reason=lms.reason, ids=np.asarray(ids, dtype=str),
                     meta=np.asarray(json.dumps(meta)))


def dataset_landmarks(ds, *, workers: int | None = None, mirror_average: bool = True, use_cache: bool = True,
                      progress: bool = False) -> tuple[LandmarkSet, dict]:
    """Landmarks of every image of a ``FER2013Data`` (cached), and a dict describing where they came from."""
    settings = extractor_settings(mirror_average)
    key = dataset_key(ds.ids, ds.images, settings)
    path = cache_path_for(key)
    info = {"cache_path": str(path), "key": key, "settings": settings, "dataset": ds.name, "n": len(ds)}
    if use_cache:
        hit = load(path, ds.ids)
        if hit is not None:
            return hit, {**info, "cached": True}
    t0 = time.perf_counter()
    lms = extract_crops(ds.images, workers=workers, mirror_average=mirror_average, progress=progress,
                        desc=f"landmarks {ds.name}")
    seconds = time.perf_counter() - t0
    info.update(cached=False, extract_seconds=round(seconds, 2), workers=workers or default_workers(),
                missing=lms.reason_counts())
    if use_cache:
        try:
            save(path, ds.ids, lms, info)
        except OSError as e:
            print(f"warning: could not write the landmark cache {path} ({e}); continuing without it", file=sys.stderr)
    return lms, info
