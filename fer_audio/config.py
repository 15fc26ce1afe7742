"""Audio recipes: TOML files with [data], [features], [model], [train], [augment], [eval] tables,
every field typed and overridable with ``--set section.key=value``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fer_core import recipe
from fer_core.errors import UserError
from fer_core.recipe import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE
from fer_audio.features import FeatureConfig

RECIPE_DIR = Path(__file__).parent / "recipes"
DEFAULT_RECIPE = "reference"
SCHEMA: dict[str, dict[str, type]] = {
    "data": {"sample_rate": int, "calm": str},
    "features": {"n_fft": int, "win_ms": float, "hop_ms": float, "n_mels": int, "f_min": float, "f_max": float,
                 "trim_db": float, "norm": str, "frames": int},
    "model": {"name": str, "dropout": float},
    "train": {"epochs": int, "batch_size": int, "optimizer": str, "lr": float, "weight_decay": float,
              "scheduler": str, "warmup_epochs": float, "label_smoothing": float, "mixup_alpha": float,
              "grad_clip": float, "seed": int, "threads": int},
    "augment": {"max_shift_frames": int, "freq_masks": int, "freq_width": int, "time_masks": int, "time_width": int},
    "eval": {"checkpoint": str, "crops": int, "batch_size": int},
}
CHOICES = {
    ("data", "calm"): ("keep", "merge"),
    ("features", "norm"): ("utterance", "band"),
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
    return cfg


def apply_overrides(cfg: dict[str, Any], overrides: list[str], flags: Iterable[recipe.Override] = ()) -> dict[str, Any]:
    """``cfg`` with the ``--set`` ``overrides``, then the fields set by command-line flags (``--epochs``), applied."""
    return recipe.apply_overrides(cfg, [*recipe.set_overrides(overrides), *flags], SCHEMA, CHOICES, ranges=RANGES,
                                  name_expected_type=True)


def feature_config(cfg: dict[str, Any]) -> FeatureConfig:
    return FeatureConfig(sample_rate=cfg["data"]["sample_rate"], **cfg["features"])
