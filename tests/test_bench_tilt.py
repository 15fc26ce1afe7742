"""bench/tilt_robustness.py turns crops about their centre without letting black corners in."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from tilt_robustness import turned  # noqa: E402


def test_a_turned_crop_keeps_its_size_and_content_and_has_no_black_corners():
    rng = np.random.default_rng(0)
    crop = rng.integers(50, 200, size=(48, 48), dtype=np.uint8)
    assert turned(crop, 0) is crop
    quarter = turned(crop, 90)
    assert quarter.shape == (48, 48) and quarter.dtype == np.uint8
    np.testing.assert_allclose(quarter[2:-2, 2:-2].astype(int), np.rot90(crop)[2:-2, 2:-2].astype(int), atol=1)
    assert turned(crop, 20).min() >= 50  # corners filled from the replicated border, never black
