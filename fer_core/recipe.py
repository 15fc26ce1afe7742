"""Recipes: TOML files of typed ``[section]`` tables, overridable field by field with ``--set section.key=value``.

A branch describes its recipes with a schema (section -> key -> type), the allowed values of some
fields (``choices``, keyed by ``(section, key)``) and the folder of its built-in recipes; loading,
checking and ``--set`` parsing are the same for every branch and live here.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from fer_core.errors import UserError

Schema = Mapping[str, Mapping[str, type | tuple[type, ...]]]
Choices = Mapping[tuple[str, str], Collection[Any]]


def list_recipes(recipe_dir: Path) -> list[str]:
    return sorted(p.stem for p in Path(recipe_dir).glob("*.toml"))


def check_recipe(cfg: dict[str, Any], schema: Schema, choices: Choices, source: str, *,
                 positive: Collection[tuple[str, str]] = (), name_expected_type: bool = False) -> dict[str, Any]:
    """Check a recipe (or a ``--set`` patch) against ``schema``; ints given for floats become floats in place.

    Every unknown key, across all sections, is named in one error. Fields in ``positive`` must be > 0.
    ``name_expected_type`` says which type a mistyped field wants instead of only that it is wrong.
    """
    unknown_sections = sorted(set(cfg) - set(schema))
    if unknown_sections:
        raise UserError(f"{source}: unknown section(s) {', '.join(unknown_sections)}; valid: {', '.join(schema)}")
    for section, fields in cfg.items():
        if not isinstance(fields, dict):
            raise UserError(f"{source}: [{section}] must be a table")
    unknown = [f"{section}.{k}" for section, fields in cfg.items() for k in sorted(set(fields) - set(schema[section]))]
    if unknown:
        valid = "; ".join(f"[{section}] {', '.join(schema[section])}" for section in cfg)
        raise UserError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {valid}")
    for section, fields in cfg.items():
        for key, value in fields.items():
            want = schema[section][key]
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                fields[key] = value = float(value)
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                wrong = f"should be of type {want.__name__}" if name_expected_type else "has the wrong type"
                raise UserError(f"{source}: {section}.{key} = {value!r} {wrong}")
            allowed = choices.get((section, key))
            if allowed and value not in allowed:
                raise UserError(f"{source}: {section}.{key} = {value!r}; choose from {', '.join(allowed)}")
            if (section, key) in positive and value <= 0:
                raise UserError(f"{source}: {section}.{key} must be positive, got {value!r}")
    return cfg


def find_recipe(name_or_path: str, recipe_dir: Path) -> Path:
    """A built-in recipe name (a file in ``recipe_dir``) or the path of a .toml file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = Path(recipe_dir) / f"{name_or_path}.toml"
    if not path.is_file():
        raise UserError(f"recipe {name_or_path!r} not found; built-in recipes: {', '.join(list_recipes(recipe_dir))}, "
                        "or pass a .toml path")
    return path


def load_recipe_file(path: Path, schema: Schema, choices: Choices, *, positive: Collection[tuple[str, str]] = (),
                     name_expected_type: bool = False) -> dict[str, Any]:
    """Read and check a recipe; every schema section is present (possibly empty) and ``recipe`` is the file's stem."""
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: invalid TOML ({e})") from None
    check_recipe(cfg, schema, choices, str(path), positive=positive, name_expected_type=name_expected_type)
    for section in schema:
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


def apply_overrides(cfg: dict[str, Any], overrides: list[str], schema: Schema, choices: Choices, *,
                    positive: Collection[tuple[str, str]] = (), name_expected_type: bool = False) -> dict[str, Any]:
    """A copy of ``cfg`` with the ``--set section.key=value`` overrides applied (all checked before any is)."""
    cfg = copy.deepcopy(cfg)
    patch: dict[str, dict[str, Any]] = {}
    for text in overrides:
        section, key, value = parse_override(text)
        patch.setdefault(section, {})[key] = value
    check_recipe(patch, schema, choices, "--set", positive=positive, name_expected_type=name_expected_type)
    for section, fields in patch.items():
        cfg.setdefault(section, {}).update(fields)
    return cfg
