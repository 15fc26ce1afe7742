"""``RavdessData``: decoded RAVDESS speech clips in memory, with their parsed names, labels and actor splits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer_core.errors import DataError
from fer_audio.labels import RavdessName, label_index, label_space_for
from fer_audio.splits import ActorSplit


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as 16-bit PCM (how clips are held in memory and cached)."""
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


@dataclass
class RavdessData:
    audio: np.ndarray  # all clips concatenated, int16
    offsets: np.ndarray  # (N + 1,) clip i = audio[offsets[i]:offsets[i + 1]]
    names: list[RavdessName]  # parsed file name of every clip, in canonical order (actor, then stem)
    sample_rate: int
    source: str
    layout: str  # zip | folder | synthetic
    name: str = "ravdess"  # dataset name written into artifacts ("synthetic" for generated tones)
    notes: list[str] = field(default_factory=list)
    cache_path: str | None = None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def ids(self) -> np.ndarray:
        return np.asarray([n.stem for n in self.names], dtype=str)

    @property
    def actors(self) -> np.ndarray:
        return np.asarray([n.actor for n in self.names], dtype=np.int64)

    def waveform(self, i: int) -> np.ndarray:
        return self.audio[self.offsets[i]:self.offsets[i + 1]].astype(np.float32) / 32768.0

    def labels(self, calm: str) -> np.ndarray:
        return np.asarray([label_index(n.emotion, calm) for n in self.names], dtype=np.int64)

    def label_space(self, calm: str) -> tuple[str, ...]:
        return label_space_for(calm)

    def split_indices(self, split: ActorSplit, which: str) -> np.ndarray:
        idx = np.flatnonzero(np.isin(self.actors, split.actors(which)))
        if len(idx) == 0:
            raise DataError(f"{self.source}: no clips of actors {list(split.actors(which))} for split {which!r}")
        return idx

    def durations(self) -> np.ndarray:
        return np.diff(self.offsets) / self.sample_rate
