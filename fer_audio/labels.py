"""RAVDESS file-name fields and the mapping of its emotions onto the platform's label space.

A RAVDESS file name is seven two-digit fields, ``MM-VV-EE-II-SS-RR-AA`` (Livingstone & Russo, 2018):
modality, vocal channel, emotion, intensity, statement, repetition, actor (odd = male, even = female).
The code tables and the label mapping below are data; everything else reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from fer_core.errors import DataError
from fer_core.labels import FER7

MODALITIES = {1: "audio-video", 2: "video-only", 3: "audio-only"}
VOCAL_CHANNELS = {1: "speech", 2: "song"}
EMOTIONS = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fearful", 7: "disgust", 8: "surprised"}
INTENSITIES = {1: "normal", 2: "strong"}
STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
REPETITIONS = {1: "first", 2: "second"}
ACTORS = tuple(range(1, 25))

# The 8 RAVDESS emotions in code order: the label space of a run that keeps `calm`.
RAVDESS8: tuple[str, ...] = tuple(EMOTIONS[k] for k in sorted(EMOTIONS))
# RAVDESS emotion -> canonical FER7 emotion. FER7 has no `calm`; it is closest to `neutral`.
TO_FER7: dict[str, str] = {
    "neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
    "fearful": "fear", "disgust": "disgust", "surprised": "surprise",
}
# --calm option -> (label space of the run, RAVDESS emotion -> label in that space)
CALM_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "keep": (RAVDESS8, {e: e for e in RAVDESS8}),  # 8 classes, the usual RAVDESS benchmark
    "merge": (FER7, TO_FER7),  # 7 classes = FER7: calm counted as neutral
}

NAME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class RavdessName:
    """Every field of one RAVDESS file name."""

    modality: str
    vocal_channel: str
    emotion: str
    intensity: str
    statement: int  # 1 or 2 (text in STATEMENTS)
    repetition: int  # 1 or 2
    actor: int  # 1..24
    stem: str  # the seven fields, e.g. "03-01-05-02-01-01-12": the sample id

    @property
    def sex(self) -> str:
        return "male" if self.actor % 2 else "female"


def _field(value: str, table: dict[int, str] | tuple[int, ...], what: str, name: str) -> int:
    code = int(value)
    if code not in table:
        valid = ", ".join(f"{k:02d}" for k in (table if isinstance(table, tuple) else table.keys()))
        raise DataError(f"{name}: {what} code {value} is not a RAVDESS code (valid: {valid})")
    return code


def parse_name(path: str | PurePath) -> RavdessName:
    """Parse ``.../03-01-05-02-01-01-12.wav`` (any extension); a one-line DataError if it is not RAVDESS."""
    name = PurePath(path).name
    stem = name.split(".", 1)[0]
    m = NAME_RE.match(stem)
    if m is None:
        raise DataError(
            f"{name}: not a RAVDESS file name; expected seven two-digit fields MM-VV-EE-II-SS-RR-AA, "
            "e.g. 03-01-05-02-01-01-12.wav"
        )
    mo, vc, em, it, st, rp, ac = m.groups()
    modality = MODALITIES[_field(mo, MODALITIES, "modality", name)]
    channel = VOCAL_CHANNELS[_field(vc, VOCAL_CHANNELS, "vocal channel", name)]
    emotion = EMOTIONS[_field(em, EMOTIONS, "emotion", name)]
    intensity = INTENSITIES[_field(it, INTENSITIES, "intensity", name)]
    if emotion == "neutral" and intensity == "strong":
        raise DataError(f"{name}: RAVDESS has no strong-intensity neutral (emotion 01 with intensity 02)")
    return RavdessName(
        modality=modality, vocal_channel=channel, emotion=emotion, intensity=intensity,
        statement=_field(st, STATEMENTS, "statement", name), repetition=_field(rp, REPETITIONS, "repetition", name),
        actor=_field(ac, ACTORS, "actor", name), stem=stem,
    )


def label_space_for(calm: str) -> tuple[str, ...]:
    if calm not in CALM_OPTIONS:
        raise DataError(f"--calm {calm!r}: choose one of {', '.join(CALM_OPTIONS)}")
    return CALM_OPTIONS[calm][0]


def label_index(emotion: str, calm: str) -> int:
    """Index of a RAVDESS emotion in the label space of option ``calm``."""
    space, mapping = CALM_OPTIONS[calm]
    return space.index(mapping[emotion])


def to_fer7_probs(probs: np.ndarray, label_space: tuple[str, ...]) -> np.ndarray:
    """Sum the probability of RAVDESS classes that share a FER7 class (calm + neutral)."""
    out = np.zeros((len(probs), len(FER7)))
    for j, name in enumerate(label_space):
        out[:, FER7.index(TO_FER7.get(name, name))] += probs[:, j]
    return out
