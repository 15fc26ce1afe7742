"""Actor-disjoint splits of RAVDESS. Clip-level random splits put one actor's voice in both training
and test and inflate accuracy badly, so this module offers no such split.

``fixed`` (the reference protocol, used for every committed number):
    train actors 1-18, validation 19-20 (checkpoint choice, temperature, fusion weights), test 21-24.
    Validation and test each hold as many male (odd) as female (even) actors.

``kfold`` over actor pairs (2j-1, 2j), so every fold is sex-balanced: pair j goes to fold (j-1) mod k.
Fold f tests on its own actors, validates on the first pair of the next fold, trains on the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from fer_core.errors import UserError
from fer_audio.labels import ACTORS

SPLIT_NAMES = ("train", "validation", "test")
FIXED_TRAIN = tuple(range(1, 19))
FIXED_VALIDATION = (19, 20)
FIXED_TEST = (21, 22, 23, 24)
MAX_FOLDS = len(ACTORS) // 2


@dataclass(frozen=True)
class ActorSplit:
    name: str  # "fixed" or "kfold-<f>of<k>"
    train: tuple[int, ...]
    validation: tuple[int, ...]
    test: tuple[int, ...]

    def actors(self, split: str) -> tuple[int, ...]:
        if split not in SPLIT_NAMES:
            raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_NAMES)}")
        return getattr(self, split)

    def as_dict(self) -> dict[str, list[int]]:
        return {"name": self.name, **{s: list(self.actors(s)) for s in SPLIT_NAMES}}  # type: ignore[dict-item]


def fixed_split() -> ActorSplit:
    return ActorSplit("fixed", FIXED_TRAIN, FIXED_VALIDATION, FIXED_TEST)


def kfold_split(fold: int, folds: int) -> ActorSplit:
    """Fold ``fold`` (1-based) of ``folds`` actor-disjoint folds."""
    if not 2 <= folds <= MAX_FOLDS:
        raise UserError(f"--folds {folds}: choose 2..{MAX_FOLDS} (folds are built from the 12 male/female actor pairs)")
    if not 1 <= fold <= folds:
        raise UserError(f"--fold {fold}: choose 1..{folds}")
    pairs = [(2 * j - 1, 2 * j) for j in range(1, MAX_FOLDS + 1)]
    members = [[p for j, p in enumerate(pairs) if j % folds == f] for f in range(folds)]
    test_pairs = members[fold - 1]
    val_pair = members[fold % folds][0]
    test = tuple(sorted(a for p in test_pairs for a in p))
    validation = tuple(val_pair)
    train = tuple(a for a in ACTORS if a not in test and a not in validation)
    return ActorSplit(f"kfold-{fold}of{folds}", train, validation, test)


def resolve_split(folds: int | None = None, fold: int | None = None) -> ActorSplit:
    if folds is None and fold is None:
        return fixed_split()
    if folds is None or fold is None:
        raise UserError("--fold and --folds go together (e.g. --folds 6 --fold 1)")
    return kfold_split(fold, folds)
