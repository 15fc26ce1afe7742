"""Generated RAVDESS-shaped tones for smoke tests: same file-name fields, same actors and splits.

Each emotion is a harmonic tone at its own pitch (quarter-octave steps from 110 Hz); actors shift
the pitch by at most a semitone, strong intensity adds loudness and vibrato. A model that learns
nothing from log-mels cannot separate them; any working one can. Numbers on it mean nothing.
"""

from __future__ import annotations

import numpy as np

from fer_audio.dataset import RavdessData, to_int16
from fer_audio.labels import ACTORS, EMOTIONS, parse_name


def synthetic_stems(actors=ACTORS, statements=(1, 2), repetitions=(1, 2)) -> list[str]:
    """The speech stems RAVDESS has per actor (60 with both statements and repetitions; no strong neutral)."""
    stems = []
    for actor in actors:
        for emotion in EMOTIONS:
            for intensity in (1,) if emotion == 1 else (1, 2):
                for statement in statements:
                    for repetition in repetitions:
                        stems.append(f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}")
    return stems


def tone(stem: str, sample_rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = parse_name(stem)
    code = next(k for k, v in EMOTIONS.items() if v == n.emotion)
    f0 = 110.0 * 2 ** ((code - 1) / 4) * 2 ** (((n.actor % 5) - 2) / 24)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    strong = n.intensity == "strong"
    vibrato = 1 + (0.02 if strong else 0.0) * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(f0 * vibrato) / sample_rate
    wave = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
    envelope = np.sin(np.pi * np.clip(t / seconds, 0, 1)) ** 0.5
    amp = 0.5 if strong else 0.25
    x = amp * envelope * wave / 2.3 + 0.003 * rng.standard_normal(len(t))
    pad = np.zeros(int(0.2 * sample_rate))
    return np.concatenate([pad, x, pad]).astype(np.float32)


def make_synthetic(seed: int = 0, sample_rate: int = 16000, actors=ACTORS, seconds: float = 1.0,
                   statements=(1, 2), repetitions=(1, 2)):
    rng = np.random.default_rng(seed)
    stems = synthetic_stems(actors, statements, repetitions)
    clips = [to_int16(tone(s, sample_rate, seconds * rng.uniform(0.8, 1.2), rng)) for s in stems]
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])]).astype(np.int64)
    return RavdessData(
        audio=np.concatenate(clips), offsets=offsets, names=[parse_name(s) for s in stems], sample_rate=sample_rate,
        source="synthetic", layout="synthetic", name="synthetic",
        notes=["SYNTHETIC smoke-test data (generated tones), not RAVDESS: numbers are not comparable"],
    )
