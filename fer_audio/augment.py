"""Waveform augmentation for real rooms, batched on tensors and seeded by a ``torch.Generator``.

Applied to each training batch before its log-mels are computed, in this order, each with its own
probability per clip: synthetic reverberation (exponentially decaying noise, RT60 drawn per clip) ->
additive noise at a random SNR (white, pink, or babble summed from clips of *other actors in the
same batch*, so babble never carries the clip's own voice and, in training, only training actors) ->
band-limiting (resample to ``bandlimit_rate`` and back, a telephone channel) -> random gain.
The same functions, with fixed parameters, make the perturbations of ``bench/speech_robustness.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

NOISE_KINDS = ("white", "pink", "babble")


@dataclass(frozen=True)
class WaveAugment:
    gain_db: float = 0.0  # gain drawn uniformly in [-gain_db, +gain_db]
    noise_prob: float = 0.0
    snr_min_db: float = 5.0
    snr_max_db: float = 30.0
    noise_kinds: str = "white,pink,babble"  # comma-separated subset of NOISE_KINDS, drawn uniformly
    babble_talkers: int = 3
    reverb_prob: float = 0.0
    rt60_min_s: float = 0.2
    rt60_max_s: float = 0.8
    bandlimit_prob: float = 0.0
    bandlimit_rate: int = 8000

    @classmethod
    def from_config(cls, augment_cfg: dict[str, Any]) -> "WaveAugment":
        return cls(**{k: augment_cfg[k] for k in cls.__dataclass_fields__ if k in augment_cfg})

    @property
    def active(self) -> bool:
        return self.gain_db > 0 or self.noise_prob > 0 or self.reverb_prob > 0 or self.bandlimit_prob > 0

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.noise_kinds.split(",") if k.strip())


def check_noise_kinds(text: str) -> str | None:
    """None when ``text`` names noise kinds we make, else what is wrong with it."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in NOISE_KINDS]
    if not kinds or bad:
        return f"{text!r}: give a comma-separated subset of {', '.join(NOISE_KINDS)}"
    return None


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _valid(lengths: torch.Tensor, size: int) -> torch.Tensor:
    return (torch.arange(size)[None, :] < lengths[:, None]).float()


def clip_power(waves: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean power of each clip over its own samples (B,)."""
    return (waves ** 2 * _valid(lengths, waves.shape[1])).sum(1) / lengths.clamp(min=1)


def white_noise(shape: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=gen)


def pink_noise(shape: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """1/f power noise: white noise shaped in the frequency domain."""
    spec = torch.fft.rfft(torch.randn(shape, generator=gen), dim=1)
    f = torch.arange(spec.shape[1], dtype=torch.float32)
    spec = spec / f.clamp(min=1).sqrt()
    spec[:, 0] = 0
    return torch.fft.irfft(spec, n=shape[1], dim=1)


def babble_noise(waves: torch.Tensor, lengths: torch.Tensor, speakers: torch.Tensor, talkers: int,
                 gen: torch.Generator) -> torch.Tensor:
    """Per clip, the sum of ``talkers`` other clips of the batch spoken by a different speaker, each at
    unit power and a random offset, tiled to the clip's length. A clip with no other speaker in the batch
    gets pink noise instead."""
    b, size = waves.shape
    unit = waves / clip_power(waves, lengths).clamp(min=1e-12).sqrt()[:, None]
    out = torch.zeros_like(waves)
    for i in range(b):
        others = torch.nonzero(speakers != speakers[i]).flatten()
        if len(others) == 0:
            out[i] = pink_noise((1, size), gen)[0]
            continue
        pick = others[torch.randint(len(others), (talkers,), generator=gen)]
        for j in pick.tolist():
            n = int(lengths[j])
            offset = int(torch.randint(n, (1,), generator=gen))
            idx = (torch.arange(size) + offset) % n
            out[i] += unit[j, idx]
    return out


def add_noise(waves: torch.Tensor, lengths: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """``waves`` plus ``noise`` scaled to ``snr_db`` (B,) against each clip's own power; padding stays zero."""
    valid = _valid(lengths, waves.shape[1])
    noise = noise * valid
    scale = (clip_power(waves, lengths) / (clip_power(noise, lengths).clamp(min=1e-12) * 10 ** (snr_db / 10))).sqrt()
    return waves + noise * scale[:, None]


def reverb(waves: torch.Tensor, lengths: torch.Tensor, rt60_s: torch.Tensor, sample_rate: int,
           gen: torch.Generator) -> torch.Tensor:
    """Convolve each clip with a synthetic room impulse response: a direct path plus Gaussian noise
    decaying by 60 dB over ``rt60_s`` (B,); output level matched to the input, same length."""
    import torchaudio.functional as AF

    size = int(math.ceil(float(rt60_s.max()) * sample_rate))
    t = torch.arange(size, dtype=torch.float32) / sample_rate
    decay = torch.exp(-3 * math.log(10) * t[None, :] / rt60_s[:, None])  # amplitude: -60 dB at rt60
    rir = torch.randn(len(waves), size, generator=gen) * decay * 0.1
    rir[:, 0] = 1.0
    wet = AF.fftconvolve(waves, rir)[:, : waves.shape[1]] * _valid(lengths, waves.shape[1])
    gain = (clip_power(waves, lengths) / clip_power(wet, lengths).clamp(min=1e-12)).sqrt()
    return wet * gain[:, None]


def band_limit(waves: torch.Tensor, sample_rate: int, rate: int) -> torch.Tensor:
    import torchaudio.functional as AF

    if rate >= sample_rate:
        return waves
    return AF.resample(AF.resample(waves, sample_rate, rate), rate, sample_rate)[:, : waves.shape[1]]


def apply_gain(waves: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    return waves * (10 ** (gain_db / 20))[:, None]


@torch.no_grad()
def augment_waves(waves: torch.Tensor, lengths: torch.Tensor, speakers: torch.Tensor, aug: WaveAugment,
                  sample_rate: int, gen: torch.Generator) -> torch.Tensor:
    """One random draw of ``aug`` for each clip of a padded batch (B, S); CPU tensors."""
    b = len(waves)
    out = waves.clone()
    if aug.reverb_prob > 0:
        hit = torch.rand(b, generator=gen) < aug.reverb_prob
        rt60 = _uniform(b, aug.rt60_min_s, aug.rt60_max_s, gen)
        if hit.any():
            out[hit] = reverb(out[hit], lengths[hit], rt60[hit], sample_rate, gen)
    if aug.noise_prob > 0:
        hit = torch.rand(b, generator=gen) < aug.noise_prob
        snr = _uniform(b, aug.snr_min_db, aug.snr_max_db, gen)
        kinds = aug.kinds
        kind = torch.randint(len(kinds), (b,), generator=gen)
        noise = torch.zeros_like(out)
        for k, name in enumerate(kinds):
            sel = hit & (kind == k)
            if not sel.any():
                continue
            shape = (int(sel.sum()), out.shape[1])
            if name == "white":
                noise[sel] = white_noise(shape, gen)
            elif name == "pink":
                noise[sel] = pink_noise(shape, gen)
            else:
                noise[sel] = babble_noise(waves, lengths, speakers, aug.babble_talkers, gen)[sel]
        if hit.any():
            out[hit] = add_noise(out[hit], lengths[hit], noise[hit], snr[hit])
    if aug.bandlimit_prob > 0:
        hit = torch.rand(b, generator=gen) < aug.bandlimit_prob
        if hit.any():
            out[hit] = band_limit(out[hit], sample_rate, aug.bandlimit_rate)
    if aug.gain_db > 0:
        out = apply_gain(out, _uniform(b, -aug.gain_db, aug.gain_db, gen))
    return out
