"""Audio recipes: TOML files with [data], [features], [model], [train], [augment], [eval] tables,
every field typed and overridable with ``--set section.key=value``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fer_core import recipe
from fer_core.errors import UserError
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
POSITIVE = {("train", "epochs"), ("train", "batch_size"), ("train", "lr"), ("features", "frames"),
            ("features", "n_mels"), ("data", "sample_rate"), ("eval", "crops"), ("eval", "batch_size")}


def list_recipes() -> list[str]:
    return recipe.list_recipes(RECIPE_DIR)


def load_recipe(name_or_path: str = DEFAULT_RECIPE) -> dict[str, Any]:
    path = recipe.find_recipe(name_or_path, RECIPE_DIR)
    cfg = recipe.load_recipe_file(path, SCHEMA, CHOICES, positive=POSITIVE, name_expected_type=True)
    missing = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys if k not in cfg[s]]
    if missing:
        raise UserError(f"{path}: missing key(s) {', '.join(missing[:5])}; start from recipes/{DEFAULT_RECIPE}.toml")
    return cfg


def apply_overrides(cfg: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    return recipe.apply_overrides(cfg, overrides, SCHEMA, CHOICES, positive=POSITIVE, name_expected_type=True)


def feature_config(cfg: dict[str, Any]) -> FeatureConfig:
    return FeatureConfig(sample_rate=cfg["data"]["sample_rate"], **cfg["features"])
