"""Recipes: TOML files with [model], [train], [augment] and [eval] tables, overridable per field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fer_core import recipe

RECIPE_DIR = Path(__file__).parent / "recipes"
SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "model": {
        "backbone": str, "input_size": int, "stem_stride": int, "head_hidden": int, "head_activation": str,
        "head_dropout": float, "drop_rate": float, "drop_path_rate": float, "pretrained": (bool, str),
    },
    "train": {
        "epochs": int, "batch_size": int, "optimizer": str, "lr": float, "weight_decay": float, "scheduler": str,
        "warmup_epochs": float, "label_smoothing": float, "grad_clip": float, "amp": str, "channels_last": bool,
        "seed": int, "init_from": str, "ema_decay": float,
    },
    "augment": {"translate_px": float, "hflip": bool, "rotate_deg": float, "scale": float, "erase_prob": float},
    "eval": {"tta_flip": bool, "tta_shift_px": int, "batch_size": int},
}
CHOICES = {
    ("train", "optimizer"): ("adam", "adamw", "sgd"),
    ("train", "scheduler"): ("none", "onecycle", "cosine"),
    ("train", "amp"): ("auto", "on", "off"),
}


def list_recipes() -> list[str]:
    return recipe.list_recipes(RECIPE_DIR)


def load_recipe(name_or_path: str) -> dict[str, Any]:
    return recipe.load_recipe_file(recipe.find_recipe(name_or_path, RECIPE_DIR), SCHEMA, CHOICES)


def apply_overrides(cfg: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    return recipe.apply_overrides(cfg, overrides, SCHEMA, CHOICES)
