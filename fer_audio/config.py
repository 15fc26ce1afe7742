"""Audio recipes: TOML files with [data], [features], [model], [train], [augment], [eval] tables,
every field typed and overridable with ``--set section.key=value``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fer_core import recipe
from fer_core.errors import UserError
from fer_core.recipe import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, PROBABILITY, Range
from fer_audio.augment import check_noise_kinds
from fer_audio.features import FeatureConfig

RECIPE_DIR = Path(__file__).parent / "recipes"
DEFAULT_RECIPE = "reference"
SCHEMA: dict[str, dict[str, type]] = {
    "data": {"sample_rate": int, "calm": str},
    "features": {"n_fft": int, "win_ms": float, "hop_ms": float, "n_mels": int, "f_min": float, "f_max": float,
                 "trim_db": float, "norm": str, "frames": int, "floor": str, "floor_db": float},
    "model": {"name": str, "dropout": float},
    "train": {"epochs": int, "batch_size": int, "optimizer": str, "lr": float, "weight_decay": float,
              "scheduler": str, "warmup_epochs": float, "label_smoothing": float, "mixup_alpha": float,
              "grad_clip": float, "seed": int, "threads": int},
    "augment": {"max_shift_frames": int, "freq_masks": int, "freq_width": int, "time_masks": int, "time_width": int,
                "gain_db": float, "noise_prob": float, "snr_min_db": float, "snr_max_db": float, "noise_kinds": str,
                "babble_talkers": int, "reverb_prob": float, "rt60_min_s": float, "rt60_max_s": float,
                "bandlimit_prob": float, "bandlimit_rate": int},
    "eval": {"checkpoint": str, "crops": int, "batch_size": int},
}
CHOICES = {
    ("data", "calm"): ("keep", "merge"),
    ("features", "norm"): ("utterance", "band"),
    ("features", "floor"): ("relative", "absolute"),
    ("train", "optimizer"): ("adamw", "adam", "sgd"),
    ("train", "scheduler"): ("onecycle", "cosine", "none"),
    ("eval", "checkpoint"): ("best", "last"),
}
RANGES = {
    ("data", "sample_rate"): AT_LEAST_ONE,
    ("features", "n_fft"): AT_LEAST_ONE,
    ("features", "win_ms"): POSITIVE,
    ("features", "hop_ms"): POSITIVE,
    ("features", "n_mels"): AT_LEAST_ONE,
    ("features", "f_min"): NON_NEGATIVE,
    ("features", "f_max"): POSITIVE,
    ("features", "trim_db"): NON_NEGATIVE,
    ("features", "frames"): AT_LEAST_ONE,
    ("features", "floor_db"): POSITIVE,
    ("model", "dropout"): FRACTION,
    ("train", "epochs"): AT_LEAST_ONE,
    ("train", "batch_size"): AT_LEAST_ONE,
    ("train", "lr"): POSITIVE,
    ("train", "weight_decay"): NON_NEGATIVE,
    ("train", "warmup_epochs"): NON_NEGATIVE,
    ("train", "label_smoothing"): FRACTION,
    ("train", "mixup_alpha"): NON_NEGATIVE,  # 0: no mixup
    ("train", "grad_clip"): NON_NEGATIVE,  # 0: no clipping
    ("train", "seed"): NON_NEGATIVE,
    ("train", "threads"): NON_NEGATIVE,  # 0: torch's default
    ("augment", "max_shift_frames"): NON_NEGATIVE,
    ("augment", "freq_masks"): NON_NEGATIVE,
    ("augment", "freq_width"): NON_NEGATIVE,
    ("augment", "time_masks"): NON_NEGATIVE,
    ("augment", "time_width"): NON_NEGATIVE,
    ("augment", "gain_db"): NON_NEGATIVE,
    ("augment", "noise_prob"): PROBABILITY,
    ("augment", "snr_min_db"): Range(-20, 100),
    ("augment", "snr_max_db"): Range(-20, 100),
    ("augment", "babble_talkers"): AT_LEAST_ONE,
    ("augment", "reverb_prob"): PROBABILITY,
    ("augment", "rt60_min_s"): Range(0, 5, low_inclusive=False),
    ("augment", "rt60_max_s"): Range(0, 5, low_inclusive=False),
    ("augment", "bandlimit_prob"): PROBABILITY,
    ("augment", "bandlimit_rate"): AT_LEAST_ONE,
    ("eval", "crops"): AT_LEAST_ONE,
    ("eval", "batch_size"): AT_LEAST_ONE,
}


def list_recipes() -> list[str]:
    return recipe.list_recipes(RECIPE_DIR)


def load_recipe(name_or_path: str = DEFAULT_RECIPE) -> dict[str, Any]:
    path = recipe.find_recipe(name_or_path, RECIPE_DIR)
    cfg = recipe.load_recipe_file(path, SCHEMA, CHOICES, ranges=RANGES, name_expected_type=True)
    missing = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys if k not in cfg[s]]
    if missing:
        raise UserError(f"{path}: missing key(s) {', '.join(missing[:5])}; start from recipes/{DEFAULT_RECIPE}.toml")
    return _check_augment(cfg, str(path))


def apply_overrides(cfg: dict[str, Any], overrides: list[str], flags: Iterable[recipe.Override] = ()) -> dict[str, Any]:
    """``cfg`` with the ``--set`` ``overrides``, then the fields set by command-line flags (``--epochs``), applied."""
    out = recipe.apply_overrides(cfg, [*recipe.set_overrides(overrides), *flags], SCHEMA, CHOICES, ranges=RANGES,
                                 name_expected_type=True)
    return _check_augment(out, "--set")


def _check_augment(cfg: dict[str, Any], source: str) -> dict[str, Any]:
    """Checks across fields of [augment] that one field's range cannot express."""
    aug = cfg["augment"]
    problem = check_noise_kinds(aug["noise_kinds"])
    if problem:
        raise UserError(f"{source}: augment.noise_kinds {problem}")
    for low, high in (("snr_min_db", "snr_max_db"), ("rt60_min_s", "rt60_max_s")):
        if aug[low] > aug[high]:
            raise UserError(f"{source}: augment.{low} ({aug[low]:g}) is above augment.{high} ({aug[high]:g}); swap them")
    return cfg


def feature_config(cfg: dict[str, Any]) -> FeatureConfig:
    """The features of a recipe or of a run's saved config; a config without ``features.floor`` was
    trained with the absolute log floor."""
    return FeatureConfig(sample_rate=cfg["data"]["sample_rate"], **{"floor": "absolute", **cfg["features"]})
