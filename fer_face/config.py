"""Recipes: TOML files with [model], [train], [augment] and [eval] tables, overridable per field."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fer_core import recipe, zoo
from fer_core.calibration import CALIBRATION_CHOICES
from fer_core.errors import UserError
from fer_core.recipe import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, PROBABILITY, Range
from fer_face.lineage import PUBLISHED

RECIPE_DIR = Path(__file__).parent / "recipes"
SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "model": {
        "backbone": str, "input_size": int, "stem_stride": int, "head_hidden": int, "head_activation": str,
        "head_dropout": float, "drop_rate": float, "drop_path_rate": float, "pretrained": (bool, str),
    },
    "train": {
        "epochs": int, "batch_size": int, "optimizer": str, "lr": float, "weight_decay": float, "scheduler": str,
        "warmup_epochs": float, "label_smoothing": float, "grad_clip": float, "amp": str, "channels_last": bool,
        "seed": int, "init_from": str, "ema_decay": float, "ema_warmup_power": float, "validate_tta": bool,
        "teacher": str, "distill_weight": float, "distill_temperature": float,
    },
    "augment": {"translate_px": float, "hflip": bool, "rotate_deg": float, "scale": float, "erase_prob": float},
    "eval": {"tta_flip": bool, "tta_shift_px": int, "batch_size": int, "calibration": str},
}
# The fields a recipe may leave out, with the value they take (runs saved without a field used the same value).
# Every other field of SCHEMA is required in a recipe file.
DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"pretrained": False},
    "train": {"amp": "auto", "channels_last": True, "init_from": "", "ema_decay": 0.0, "ema_warmup_power": 0.0,
              "validate_tta": True, "teacher": "", "distill_weight": 0.5, "distill_temperature": 2.0},
    "augment": {"translate_px": 0.0, "hflip": False, "rotate_deg": 0.0, "scale": 0.0, "erase_prob": 0.0},
    "eval": {"tta_flip": False, "tta_shift_px": 0, "calibration": "temperature"},
}
CHOICES = {
    ("train", "optimizer"): ("adam", "adamw", "sgd"),
    ("train", "scheduler"): ("none", "onecycle", "cosine"),
    ("train", "amp"): ("auto", "on", "off"),
    ("model", "stem_stride"): (1, 2),
    ("eval", "calibration"): CALIBRATION_CHOICES,
}
RANGES = {
    ("model", "input_size"): Range(32),  # the smallest every registered backbone takes (convnext_atto)
    ("model", "head_hidden"): AT_LEAST_ONE,
    ("model", "head_dropout"): FRACTION,
    ("model", "drop_rate"): FRACTION,
    ("model", "drop_path_rate"): FRACTION,
    ("train", "epochs"): AT_LEAST_ONE,
    ("train", "batch_size"): Range(2),  # batch norm needs two images a step; training never uses fewer
    ("train", "lr"): NON_NEGATIVE,  # 0 keeps the weights where they start, e.g. to check a warm restart's parent
    ("train", "weight_decay"): NON_NEGATIVE,
    ("train", "warmup_epochs"): NON_NEGATIVE,
    ("train", "label_smoothing"): FRACTION,
    ("train", "grad_clip"): NON_NEGATIVE,  # 0: no clipping
    ("train", "seed"): NON_NEGATIVE,
    ("train", "ema_decay"): FRACTION,  # 0: no weight average
    ("train", "ema_warmup_power"): FRACTION,  # 0: the decay is ema_decay from the first step
    ("train", "distill_weight"): PROBABILITY,  # share of the loss that follows train.teacher (1: the teacher only)
    ("train", "distill_temperature"): POSITIVE,
    ("augment", "translate_px"): NON_NEGATIVE,
    ("augment", "rotate_deg"): NON_NEGATIVE,
    ("augment", "scale"): FRACTION,  # zoom drawn from 1 +- scale
    ("augment", "erase_prob"): PROBABILITY,
    ("eval", "tta_shift_px"): NON_NEGATIVE,
    ("eval", "batch_size"): AT_LEAST_ONE,
}


def list_recipes() -> list[str]:
    return recipe.list_recipes(RECIPE_DIR)


def load_recipe(name_or_path: str) -> dict[str, Any]:
    path = recipe.find_recipe(name_or_path, RECIPE_DIR)
    cfg = with_defaults(recipe.load_recipe_file(path, SCHEMA, CHOICES, ranges=RANGES, recipe_dir=RECIPE_DIR))
    missing = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys if k not in cfg[s] and (s, k) != ("model", "backbone")]
    if missing:
        raise UserError(f"{path}: missing key(s) {', '.join(missing[:5])}; start from recipes/improved.toml")
    return cfg


def with_defaults(cfg: dict[str, Any]) -> dict[str, Any]:
    """A recipe or a run's saved config with every optional field present (DEFAULTS)."""
    out = recipe.with_defaults(cfg, DEFAULTS)
    if out["train"]["init_from"] is None:  # how a run saves "no parent" in its config.json
        out["train"]["init_from"] = ""
    return out


def apply_overrides(cfg: dict[str, Any], overrides: list[str], flags: Iterable[recipe.Override] = ()) -> dict[str, Any]:
    """``cfg`` with the ``--set`` ``overrides``, then the fields set by command-line flags (``--epochs``), applied."""
    return recipe.apply_overrides(cfg, [*recipe.set_overrides(overrides), *flags], SCHEMA, CHOICES, ranges=RANGES)


# flags that set a recipe field: checked against that field's range (RANGES), errors name the flag
FIELD_FLAGS = {"--epochs": "train.epochs", "--batch-size": "train.batch_size", "--lr": "train.lr",
               "--seed": "train.seed", "--input-size": "model.input_size"}


def resolve_config(args: argparse.Namespace, backbone: str | None = None) -> dict[str, Any]:
    """The training config a ``fer face train`` command line asks for: the recipe, then ``--set`` and the field
    flags, then the backbone (``backbone``, else ``--backbone``, else the recipe's)."""
    cfg = load_recipe(args.recipe)
    flags = recipe.flag_overrides(args, FIELD_FLAGS)
    if getattr(args, "init_from", None):
        flags.append(recipe.Override("train", "init_from", parent_of(args.init_from), f"--init-from {args.init_from}"))
    return training_config(args.recipe, getattr(args, "set", []), backbone=backbone or getattr(args, "backbone", None),
                           flags=flags, pretrained=getattr(args, "pretrained", None), cfg=cfg)


def parent_of(init_from: str) -> str:
    """``train.init_from`` of an ``--init-from`` argument: a run directory's best.pt, a checkpoint file, or
    ``zoo:<name>`` for a published face model (a name that is not a path here)."""
    init = Path(init_from)
    if not init.exists() and init_from in zoo.load_manifest().names("face"):
        return f"{PUBLISHED}{init_from}"
    return str(init / "best.pt" if init.is_dir() else init)


def training_config(recipe_name: str, overrides: Iterable[str] = (), *, backbone: str | None = None,
                    flags: Iterable[recipe.Override] = (), pretrained: str | None = None,
                    cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recipe ``recipe_name`` (or its loaded ``cfg``) with ``overrides`` and ``flags`` applied and ``backbone`` set."""
    cfg = apply_overrides(cfg if cfg is not None else load_recipe(recipe_name), list(overrides), flags)
    if backbone:
        cfg["model"]["backbone"] = backbone
    if not cfg["model"].get("backbone"):
        raise UserError(f"recipe {recipe_name!r} names no backbone: pass --backbone (e.g. efficientnet_b0) "
                        "or use a recipe that sets model.backbone")
    if pretrained is not None:
        cfg["model"]["pretrained"] = True if pretrained == "true" else pretrained
    return cfg
