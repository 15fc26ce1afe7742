"""Recipes: TOML files of typed ``[section]`` tables, overridable field by field with ``--set section.key=value``.

A branch describes its recipes with a schema (section -> key -> type), the allowed values of some
fields (``choices``) and the allowed range of its numeric ones (``ranges``), both keyed by
``(section, key)``, and the folder of its built-in recipes; loading, checking and ``--set`` parsing
are the same for every branch and live here. A command-line flag that sets a recipe field
(``--epochs``) is checked against the same tables, and its error names the flag as typed.
"""

from __future__ import annotations

import argparse
import copy
import math
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import GenericAlias, MappingProxyType
from typing import Any, get_args, get_origin

from fer_core.errors import UserError


@dataclass(frozen=True)
class Range:
    """The allowed values of a number: from ``low`` to ``high`` (None: unbounded), each bound included or not.

    NaN and infinities are never in a range. A list field is in range when each of its elements is.
    """

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __contains__(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        return self.high is None or value < self.high or (value == self.high and self.high_inclusive)

    def describe(self, integer: bool) -> str:
        """``in [0, 1)``, ``an integer >= 1``, ``a finite number > 0``."""
        if self.low is not None and self.high is not None:
            opening, closing = "[" if self.low_inclusive else "(", "]" if self.high_inclusive else ")"
            return f"in {opening}{self.low:g}, {self.high:g}{closing}"
        kind = "an integer" if integer else "a finite number"
        if self.low is not None:
            return f"{kind} {'>=' if self.low_inclusive else '>'} {self.low:g}"
        if self.high is not None:
            return f"{kind} {'<=' if self.high_inclusive else '<'} {self.high:g}"
        return kind

    def check(self, value: float, label: str, *, element: bool = False) -> None:
        """Refuse ``value`` (an ``element`` of a list) unless it is in range; ``label`` is how the user gave it."""
        if value not in self:
            subject = "each element must be" if element else "must be"
            raise UserError(f"{label}: {subject} {self.describe(isinstance(value, int))}")


POSITIVE = Range(0, low_inclusive=False)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
FRACTION = Range(0, 1, high_inclusive=False)  # [0, 1): dropout rates, decays, smoothing
PROBABILITY = Range(0, 1)

FieldType = type | tuple[type, ...] | GenericAlias  # str, (bool, str), list[int]
Schema = Mapping[str, Mapping[str, FieldType]]
Choices = Mapping[tuple[str, str], Collection[Any]]
Ranges = Mapping[tuple[str, str], Range]
NO_RANGES: Ranges = MappingProxyType({})


@dataclass(frozen=True)
class Override:
    """A field set on the command line; ``label`` is how the user wrote it (``--set train.lr=0.1``, ``--lr 0.1``)."""

    section: str
    key: str
    value: Any
    label: str


def list_recipes(recipe_dir: Path) -> list[str]:
    """Built-in recipe names: file paths under ``recipe_dir`` without ``.toml`` (``fer2013/vgg48_slim``)."""
    root = Path(recipe_dir)
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.toml"))


def _type_name(want: FieldType) -> str:
    if isinstance(want, tuple):
        return " or ".join(t.__name__ for t in want)
    return str(want) if isinstance(want, GenericAlias) else want.__name__


_WRONG_TYPE = object()


def _typed(value: Any, want: FieldType) -> Any:
    """``value`` as a ``want`` (ints given for floats become floats, in lists too), or ``_WRONG_TYPE``."""
    if isinstance(want, GenericAlias) and get_origin(want) is list:
        if not isinstance(value, list):
            return _WRONG_TYPE
        items = [_typed(item, get_args(want)[0]) for item in value]
        return _WRONG_TYPE if any(item is _WRONG_TYPE for item in items) else items
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        return _WRONG_TYPE
    return value


def _check_field(value: Any, label: str, want: FieldType, allowed: Collection[Any] | None, allowed_range: Range | None,
                 name_expected_type: bool) -> Any:
    """``value`` checked against its type, choices and range, as its type (see ``_typed``)."""
    typed = _typed(value, want)
    if typed is _WRONG_TYPE:
        raise UserError(f"{label}: " + (f"should be of type {_type_name(want)}" if name_expected_type
                                        else "has the wrong type"))
    if allowed and typed not in allowed:
        raise UserError(f"{label}: choose from {', '.join(map(str, allowed))}")
    if allowed_range is not None and isinstance(typed, list):
        for number in typed:
            allowed_range.check(number, label, element=True)
    elif allowed_range is not None:
        allowed_range.check(typed, label)
    return typed


def _check_keys(cfg: Mapping[str, Any], schema: Schema, source: str) -> None:
    """Every unknown section, or every unknown key across all sections, is named in one error."""
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


def check_recipe(cfg: dict[str, Any], schema: Schema, choices: Choices, source: str, *, ranges: Ranges = NO_RANGES,
                 name_expected_type: bool = False) -> dict[str, Any]:
    """Check a recipe against ``schema``, ``choices`` and ``ranges``; ints given for floats become floats in place.

    ``name_expected_type`` says which type a mistyped field wants instead of only that it is wrong.
    """
    _check_keys(cfg, schema, source)
    for section, fields in cfg.items():
        for key, value in fields.items():
            fields[key] = _check_field(value, f"{source}: {section}.{key}={value!r}", schema[section][key],
                                       choices.get((section, key)), ranges.get((section, key)), name_expected_type)
    return cfg


def find_recipe(name_or_path: str, recipe_dir: Path) -> Path:
    """A built-in recipe name (a file under ``recipe_dir``, e.g. ``fer2013/vgg48_slim``) or the path of a .toml file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = Path(recipe_dir) / f"{name_or_path}.toml"
    if not path.is_file():
        raise UserError(f"recipe {name_or_path!r} not found; built-in recipes: {', '.join(list_recipes(recipe_dir))}, "
                        "or pass a .toml path")
    return path


def load_recipe_file(path: Path, schema: Schema, choices: Choices, *, ranges: Ranges = NO_RANGES,
                     name_expected_type: bool = False, recipe_dir: Path | None = None) -> dict[str, Any]:
    """Read and check a recipe; every schema section is present (possibly empty) and ``recipe`` is its name.

    The name is the path below ``recipe_dir`` for a built-in recipe (``fer2013/vgg48_slim``), else the file's stem.
    """
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: invalid TOML ({e})") from None
    check_recipe(cfg, schema, choices, str(path), ranges=ranges, name_expected_type=name_expected_type)
    for section in schema:
        cfg.setdefault(section, {})
    name = path.stem
    if recipe_dir is not None and path.resolve().is_relative_to(Path(recipe_dir).resolve()):
        name = path.resolve().relative_to(Path(recipe_dir).resolve()).with_suffix("").as_posix()
    cfg["recipe"] = name
    return cfg


def with_defaults(cfg: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of ``cfg`` in which every key of ``defaults`` that a section lacks takes its default value."""
    out = copy.deepcopy(dict(cfg))
    for section, fields in defaults.items():
        out[section] = {**copy.deepcopy(dict(fields)), **out.get(section, {})}
    return out


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


def set_overrides(texts: Iterable[str]) -> list[Override]:
    """The ``--set section.key=value`` options."""
    return [Override(*parse_override(text), label=f"--set {text}") for text in texts]


def _flag_value(args: argparse.Namespace, flag: str) -> Any:
    return getattr(args, flag.removeprefix("--").replace("-", "_"), None)


def flag_overrides(args: argparse.Namespace, fields: Mapping[str, str]) -> list[Override]:
    """The recipe fields set by command-line flags, e.g. ``{"--epochs": "train.epochs"}``; unset flags set none."""
    overrides = []
    for flag, dotted in fields.items():
        value = _flag_value(args, flag)
        if value is not None:
            section, key = dotted.split(".", 1)
            overrides.append(Override(section, key, value, f"{flag} {value}"))
    return overrides


def check_flags(args: argparse.Namespace, ranges: Mapping[str, Range]) -> None:
    """Check numeric flags that set no recipe field, e.g. ``{"--workers": AT_LEAST_ONE}``; unset flags pass."""
    for flag, allowed_range in ranges.items():
        value = _flag_value(args, flag)
        if value is not None:
            allowed_range.check(value, f"{flag} {value}")


def apply_overrides(cfg: dict[str, Any], overrides: Iterable[Override], schema: Schema, choices: Choices, *,
                    ranges: Ranges = NO_RANGES, name_expected_type: bool = False) -> dict[str, Any]:
    """A copy of ``cfg`` with ``overrides`` applied in order (all checked before any is)."""
    overrides = list(overrides)
    tables: dict[str, dict[str, Any]] = {}
    for override in overrides:
        tables.setdefault(override.section, {})[override.key] = override.value
    _check_keys(tables, schema, "--set")
    values = [_check_field(override.value, override.label, schema[override.section][override.key],
                           choices.get((override.section, override.key)), ranges.get((override.section, override.key)),
                           name_expected_type) for override in overrides]
    cfg = copy.deepcopy(cfg)
    for override, value in zip(overrides, values):
        cfg.setdefault(override.section, {})[override.key] = value
    return cfg
