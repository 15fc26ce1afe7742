"""Default configuration of the landmark branch; a run saves the resolved copy in its config.json."""

from __future__ import annotations

import copy
from typing import Any

from fer_core.errors import UserError

MODELS = ("mlp", "logreg")

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
    },
}


def default_config() -> dict[str, Any]:
    return copy.deepcopy(DEFAULTS)


def _parse_value(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(cfg: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as JSON when possible: 3, 0.1, true, [64, 32])."""
    cfg = copy.deepcopy(cfg)
    for item in sets:
        key, sep, value = item.partition("=")
        section, dot, field = key.strip().partition(".")
        if not sep or not dot:
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. mlp.epochs=40")
        if section not in cfg or field not in cfg[section]:
            known = ", ".join(f"{s}.{k}" for s in cfg for k in cfg[s])
            raise UserError(f"--set {item!r}: unknown key {key!r}; known keys: {known}")
        cfg[section][field] = _parse_value(value.strip())
    return cfg
