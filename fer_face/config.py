"""Recipes: TOML files with [model], [train], [augment] and [eval] tables, overridable per field."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from fer_core.errors import UserError

RECIPE_DIR = Path(__file__).parent / "recipes"
SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "model": {
        "backbone": str, "input_size": int, "stem_stride": int, "head_hidden": int, "head_activation": str,
        "head_dropout": float, "drop_rate": float, "drop_path_rate": float, "pretrained": (bool, str),
    },
    "train": {
        "epochs": int, "batch_size": int, "optimizer": str, "lr": float, "weight_decay": float, "scheduler": str,
        "warmup_epochs": float, "label_smoothing": float, "grad_clip": float, "amp": str, "channels_last": bool,
        "seed": int,
    },
    "augment": {"translate_px": float, "hflip": bool, "rotate_deg": float, "scale": float, "erase_prob": float},
    "eval": {"tta_flip": bool, "batch_size": int},
}
CHOICES = {
    ("train", "optimizer"): ("adam", "adamw", "sgd"),
    ("train", "scheduler"): ("none", "onecycle", "cosine"),
    ("train", "amp"): ("auto", "on", "off"),
}


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def _check(cfg: dict[str, Any], source: str) -> dict[str, Any]:
    unknown_sections = sorted(set(cfg) - set(SCHEMA))
    if unknown_sections:
        raise UserError(f"{source}: unknown section(s) {', '.join(unknown_sections)}; valid: {', '.join(SCHEMA)}")
    for section, fields in cfg.items():
        if not isinstance(fields, dict):
            raise UserError(f"{source}: [{section}] must be a table")
    unknown = [f"{section}.{k}" for section, fields in cfg.items() for k in sorted(set(fields) - set(SCHEMA[section]))]
    if unknown:
        valid = "; ".join(f"[{section}] {', '.join(SCHEMA[section])}" for section in cfg)
        raise UserError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {valid}")
    for section, fields in cfg.items():
        for key, value in fields.items():
            want = SCHEMA[section][key]
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                fields[key] = value = float(value)
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise UserError(f"{source}: {section}.{key} = {value!r} has the wrong type")
            choices = CHOICES.get((section, key))
            if choices and value not in choices:
                raise UserError(f"{source}: {section}.{key} = {value!r}; choose from {', '.join(choices)}")
    return cfg


def load_recipe(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise UserError(f"recipe {name_or_path!r} not found; built-in recipes: {', '.join(list_recipes())}, or pass a .toml path")
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: invalid TOML ({e})") from None
    cfg = _check(cfg, str(path))
    for section in SCHEMA:
        cfg.setdefault(section, {})
    cfg["recipe"] = path.stem
    return cfg


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` with a TOML value (bare words are taken as strings)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise UserError(f"--set {text!r}: expected section.key=value, e.g. train.lr=0.001")
    dotted, raw = text.split("=", 1)
    section, key = dotted.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def apply_overrides(cfg: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    patch: dict[str, dict[str, Any]] = {}
    for text in overrides:
        section, key, value = parse_override(text)
        patch.setdefault(section, {})[key] = value
    _check(patch, "--set")
    for section, fields in patch.items():
        cfg.setdefault(section, {}).update(fields)
    return cfg
