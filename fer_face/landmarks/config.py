"""Default configuration of the landmark branch; a run saves the resolved copy in its config.json."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fer_core import recipe
from fer_core.calibration import CALIBRATION_CHOICES
from fer_core.errors import UserError
from fer_core.recipe import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE

MODELS = ("mlp", "logreg")
RECIPE_DIR = Path(__file__).parent / "recipes"

DEFAULTS: dict[str, Any] = {
    "features": {
        "groups": ["coords", "descriptors", "distances"],  # see fer_face.landmarks.features
    },
    "mlp": {
        "hidden": [192, 96],
        "dropout": 0.2,
        "input_dropout": 0.2,
        "epochs": 80,
        "batch_size": 256,
        "lr": 2e-3,
        "weight_decay": 5e-4,
        "label_smoothing": 0.0,
        "mirror_augment": True,  # train on the mirror face too (a random half of every batch)
        "noise_std": 0.0,  # Gaussian noise on the standardised features while training
        "seed": 0,
        "members": 5,  # >1: a deep ensemble of MLPs seeded seed, seed+1, ... with their logits averaged
    },
    "logreg": {
        # inverse L2 strength; the best on PublicTest is kept. On FER2013, PublicTest accuracy is flat over
        # 0.01-0.3 (50.4-50.8 %) and lbfgs stops converging within 1,000 iterations from C = 0.1 on.
        "C": [0.003, 0.01, 0.03],
        "max_iter": 1000,
        "mirror_augment": True,
    },
    "eval": {
        "tta_mirror": True,  # average the logits of the face and of its mirror image
        "calibration": "temperature",  # fit on PublicTest; fer_core.calibration.CALIBRATION_CHOICES
    },
}


SCHEMA: recipe.Schema = {
    "features": {"groups": list[str]},
    "mlp": {"hidden": list[int], "dropout": float, "input_dropout": float, "epochs": int, "batch_size": int,
            "lr": float, "weight_decay": float, "label_smoothing": float, "mirror_augment": bool, "noise_std": float,
            "seed": int, "members": int},
    "logreg": {"C": list[float], "max_iter": int, "mirror_augment": bool},
    "eval": {"tta_mirror": bool, "calibration": str},
}
CHOICES = {("eval", "calibration"): CALIBRATION_CHOICES}
RANGES = {
    ("mlp", "hidden"): AT_LEAST_ONE,
    ("mlp", "dropout"): FRACTION,
    ("mlp", "input_dropout"): FRACTION,
    ("mlp", "epochs"): AT_LEAST_ONE,
    ("mlp", "batch_size"): AT_LEAST_ONE,
    ("mlp", "lr"): POSITIVE,
    ("mlp", "weight_decay"): NON_NEGATIVE,
    ("mlp", "label_smoothing"): FRACTION,
    ("mlp", "noise_std"): NON_NEGATIVE,
    ("mlp", "seed"): NON_NEGATIVE,
    ("mlp", "members"): AT_LEAST_ONE,
    ("logreg", "C"): POSITIVE,
    ("logreg", "max_iter"): AT_LEAST_ONE,
}


def default_config() -> dict[str, Any]:
    return copy.deepcopy(DEFAULTS)


def list_recipes() -> list[str]:
    return recipe.list_recipes(RECIPE_DIR)


def load_recipe(name_or_path: str | None) -> dict[str, Any]:
    """A recipe file (``fer2013/geometry`` or a .toml path) over DEFAULTS; None: DEFAULTS alone."""
    cfg = default_config()
    if name_or_path is None:
        return cfg
    path = recipe.find_recipe(name_or_path, RECIPE_DIR)
    loaded = recipe.load_recipe_file(path, SCHEMA, CHOICES, ranges=RANGES)
    loaded.pop("recipe")
    for section, fields in loaded.items():
        cfg[section].update(fields)
    return cfg


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(cfg: dict[str, Any], sets: list[str], flags: Iterable[recipe.Override] = ()) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as JSON when possible: 3, 0.1, true, [64, 32]), then
    the fields set by command-line flags (``--epochs``); all are checked against SCHEMA and RANGES first."""
    overrides = []
    for item in sets:
        key, sep, value = item.partition("=")
        section, dot, field = key.strip().partition(".")
        if not sep or not dot:
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. mlp.epochs=40")
        overrides.append(recipe.Override(section, field, _parse_value(value.strip()), f"--set {item}"))
    return recipe.apply_overrides(cfg, [*overrides, *flags], SCHEMA, CHOICES, ranges=RANGES)
