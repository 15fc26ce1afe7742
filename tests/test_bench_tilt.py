"""bench/tilt_robustness.py: photos turned without black corners, and the threshold chosen on PublicTest."""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from tilt_robustness import chosen_slope, turned_photo  # noqa: E402


def test_a_turned_photo_is_the_enlarged_crop_turned_with_no_black_corners():
    rng = np.random.default_rng(0)
    crop = rng.integers(50, 200, size=(48, 48), dtype=np.uint8)
    upright = turned_photo(crop, 0)
    assert upright.shape == (192, 192) and upright.dtype == np.uint8
    np.testing.assert_array_equal(upright, np.asarray(Image.fromarray(crop).resize((192, 192), Image.BICUBIC)))
    quarter = turned_photo(crop, 90)
    np.testing.assert_allclose(quarter[4:-4, 4:-4].astype(int), np.rot90(upright)[4:-4, 4:-4].astype(int), atol=2)
    assert turned_photo(crop, 20).min() >= upright.min()  # corners filled from the repeated border, never black


def test_the_slope_with_the_best_mean_wins_and_a_tie_goes_to_the_larger_one():
    rows = [{"keep_slope": {"0": {"accuracy": 0.70}, "10": {"accuracy": 0.71}, "20": {"accuracy": 0.71}}},
            {"keep_slope": {"0": {"accuracy": 0.66}, "10": {"accuracy": 0.65}, "20": {"accuracy": 0.65}}}]
    assert chosen_slope(rows) == "20"
    rows[1]["keep_slope"]["0"]["accuracy"] = 0.70
    assert chosen_slope(rows) == "0"
