"""Audio recipes: TOML files with [data], [features], [model], [train], [augment], [eval] tables,
every field typed and overridable with ``--set section.key=value``."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

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
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def check(cfg: dict[str, Any], source: str) -> dict[str, Any]:
    unknown = sorted(set(cfg) - set(SCHEMA) - {"recipe"})
    if unknown:
        raise UserError(f"{source}: unknown section(s) {', '.join(unknown)}; valid: {', '.join(SCHEMA)}")
    for section, fields in cfg.items():
        if section == "recipe":
            continue
        if not isinstance(fields, dict):
            raise UserError(f"{source}: [{section}] must be a table")
        bad = sorted(set(fields) - set(SCHEMA[section]))
        if bad:
            raise UserError(f"{source}: unknown key(s) {', '.join(f'{section}.{k}' for k in bad)}; "
                            f"valid keys in [{section}]: {', '.join(SCHEMA[section])}")
        for key, value in fields.items():
            want = SCHEMA[section][key]
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                fields[key] = value = float(value)
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise UserError(f"{source}: {section}.{key} = {value!r} should be of type {want.__name__}")
            choices = CHOICES.get((section, key))
            if choices and value not in choices:
                raise UserError(f"{source}: {section}.{key} = {value!r}; choose from {', '.join(choices)}")
            if (section, key) in POSITIVE and value <= 0:
                raise UserError(f"{source}: {section}.{key} must be positive, got {value!r}")
    return cfg


def load_recipe(name_or_path: str = DEFAULT_RECIPE) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise UserError(f"recipe {name_or_path!r} not found; built-in recipes: {', '.join(list_recipes())}, "
                        "or pass a .toml path")
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: invalid TOML ({e})") from None
    cfg = check(cfg, str(path))
    missing = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys if k not in cfg.get(s, {})]
    if missing:
        raise UserError(f"{path}: missing key(s) {', '.join(missing[:5])}; start from recipes/{DEFAULT_RECIPE}.toml")
    cfg["recipe"] = path.stem
    return cfg


def apply_overrides(cfg: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    patch: dict[str, dict[str, Any]] = {}
    for text in overrides:
        if "=" not in text or "." not in text.split("=", 1)[0]:
            raise UserError(f"--set {text!r}: expected section.key=value, e.g. train.lr=0.001")
        dotted, raw = text.split("=", 1)
        section, key = dotted.strip().split(".", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # bare words are strings
        patch.setdefault(section, {})[key] = value
    check(patch, "--set")
    for section, fields in patch.items():
        cfg[section].update(fields)
    return cfg


def feature_config(cfg: dict[str, Any]) -> FeatureConfig:
    return FeatureConfig(sample_rate=cfg["data"]["sample_rate"], **cfg["features"])
