"""Library versions a run records in its config.json."""

from __future__ import annotations

import importlib
import platform


def versions(*packages: str) -> dict[str, str]:
    """Python's and torch's version, then each of ``packages``' (imported only when a run asks)."""
    return {"python": platform.python_version(),
            **{name: importlib.import_module(name).__version__ for name in ("torch", *packages)}}
