"""Log-mel features in torch (torchaudio; batched, on whatever device the waves are on).

Pipeline per utterance: power mel spectrogram -> log with a floor -> trim leading/trailing silence
(frames more than ``trim_db`` below the loudest frame) -> normalise (zero mean, unit variance over the
speech frames: one scalar per utterance, or per mel band with ``norm = "band"``).

Gain invariance: with ``floor = "relative"`` the log floor sits ``floor_db`` below the clip's loudest
mel cell, so scaling a clip by any gain shifts every log-mel value by the same constant, which the
normalisation removes: the features, and so the prediction, do not depend on the recording level.
``floor = "absolute"`` (a fixed 1e-6 floor, what configs without the key used) lets quiet cells of a
quiet recording sit on the floor and loud recordings look different.

Features of clean clips are computed once; a fixed-length window is cut from them per batch
(:func:`crop`), at the centre for evaluation and at a random offset (time shift) for training,
followed by :func:`spec_augment`. Training with waveform augmentation (:mod:`fer_audio.augment`)
recomputes the features of each batch with :func:`aligned_features`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

LOG_EPS = 1e-6


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000
    n_fft: int = 512
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_mels: int = 64
    f_min: float = 50.0
    f_max: float = 8000.0
    trim_db: float = 40.0
    norm: str = "utterance"  # utterance | band
    frames: int = 256  # window length the model sees
    floor: str = "relative"  # relative: floor_db below the clip's loudest mel cell | absolute: LOG_EPS
    floor_db: float = 80.0

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))


class LogMel(torch.nn.Module):
    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        import torchaudio

        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.hop_length,
            f_min=cfg.f_min, f_max=min(cfg.f_max, cfg.sample_rate / 2), n_mels=cfg.n_mels, power=2.0, center=True,
            norm="slaney", mel_scale="slaney",
        )

    @torch.no_grad()
    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, S) zero-padded waves + sample lengths -> normalised log-mels (B, M, T), speech start and end frame."""
        cfg = self.cfg
        power = self.mel(waves.float())  # (B, M, T)
        n_frames = lengths // cfg.hop_length + 1
        t = torch.arange(power.shape[-1], device=power.device)
        valid = t[None, :] < n_frames[:, None]
        if cfg.floor == "relative":
            peak = (power * valid[:, None, :]).amax((1, 2), keepdim=True)
            floor = peak * 10 ** (-cfg.floor_db / 10) + torch.finfo(torch.float32).tiny
        else:
            floor = LOG_EPS
        logmel = torch.log(power + floor)
        energy = torch.exp(logmel).sum(1)  # (B, T); every cell is above its floor, so energy > 0
        energy_db = 10 * torch.log10(energy + LOG_EPS if cfg.floor == "absolute" else energy)
        energy_db = energy_db.masked_fill(~valid, -1e9)
        loud = energy_db >= energy_db.max(1, keepdim=True).values - cfg.trim_db
        start = loud.float().argmax(1)
        end = logmel.shape[-1] - loud.flip(1).float().argmax(1)
        speech = (t[None, :] >= start[:, None]) & (t[None, :] < end[:, None])  # (B, T)
        mask = speech[:, None, :].float()
        frames_per_clip = mask.sum(-1, keepdim=True)  # (B, 1, 1)
        if cfg.norm == "band":
            mean = (logmel * mask).sum(-1, keepdim=True) / frames_per_clip
            var = (((logmel - mean) * mask) ** 2).sum(-1, keepdim=True) / frames_per_clip
        else:
            cells = frames_per_clip * logmel.shape[1]
            mean = (logmel * mask).sum((1, 2), keepdim=True) / cells
            var = (((logmel - mean) * mask) ** 2).sum((1, 2), keepdim=True) / cells
        normed = (logmel - mean) / torch.sqrt(var + 1e-5) * mask
        return normed, start, end


def pad_waves(waves: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    out = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        out[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
    return out, lengths


@torch.no_grad()
def aligned_features(logmel: LogMel, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S) padded waves -> (B, M, T) speech-only log-mels moved to frame 0 (zero after each clip's
    speech) and the speech frame counts (B,): the layout :func:`crop` reads."""
    normed, start, end = logmel(waves, lengths)
    counts = end - start
    t = torch.arange(normed.shape[-1], device=normed.device)
    src = (start[:, None] + t[None, :]).clamp(max=normed.shape[-1] - 1)
    moved = torch.gather(normed, 2, src[:, None, :].expand_as(normed))
    return moved * (t[None, None, :] < counts[:, None, None]), counts


@torch.no_grad()
def extract(waves: Sequence[np.ndarray], cfg: FeatureConfig, *, device: torch.device | str = "cpu",
            batch_size: int = 64, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips -> (N, M, Tmax) float16 speech-only log-mels, left-aligned and zero-padded, plus frame counts (N,)."""
    from tqdm.auto import tqdm

    device = torch.device(device)
    logmel = LogMel(cfg).to(device)
    feats, counts = [], []
    order = np.argsort([len(w) for w in waves])  # similar lengths per batch: less padding
    for start in tqdm(range(0, len(waves), batch_size), desc="log-mels", unit="batch", disable=not progress,
                      mininterval=0.5):
        idx = order[start:start + batch_size]
        x, lengths = pad_waves([waves[i] for i in idx])
        normed, s, e = logmel(x.to(device), lengths.to(device))
        for j in range(len(idx)):
            feats.append(normed[j, :, s[j]:e[j]].cpu())
            counts.append(int(e[j] - s[j]))
    inverse = np.argsort(order)
    feats = [feats[i] for i in inverse]
    counts_t = torch.tensor([counts[i] for i in inverse], dtype=torch.long)
    out = torch.zeros(len(feats), cfg.n_mels, int(counts_t.max()), dtype=torch.float16)
    for i, f in enumerate(feats):
        out[i, :, : f.shape[-1]] = f.to(torch.float16)
    return out, counts_t


def window_starts(counts: torch.Tensor, frames: int, position: float = 0.5,
                  shift: torch.Tensor | None = None) -> torch.Tensor:
    """First source frame of a ``frames``-long window per clip; negative = that many leading zeros.

    ``position`` 0 puts the window at the clip's start, 1 at its end, 0.5 at its centre (a clip
    shorter than the window sits inside it accordingly); ``shift`` (frames, per clip) moves it,
    staying within the clip or, for a short clip, within the window.
    """
    slack = counts - frames
    start = torch.round(slack.double() * position).long()
    if shift is not None:
        start = start + shift.to(start.device)
    zero = torch.zeros_like(slack)
    return torch.minimum(torch.maximum(start, torch.minimum(slack, zero)), torch.maximum(slack, zero))


def random_shifts(n: int, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(-max_shift, max_shift + 1, (n,), generator=generator) if max_shift > 0 else torch.zeros(n, dtype=torch.long)


def crop(feats: torch.Tensor, counts: torch.Tensor, frames: int, starts: torch.Tensor) -> torch.Tensor:
    """(N, M, Tmax) left-aligned features -> (N, M, frames) float32 windows beginning at ``starts``."""
    n, m, t_max = feats.shape
    counts, starts = counts.to(feats.device), starts.to(feats.device)
    src = starts[:, None] + torch.arange(frames, device=feats.device)[None, :]
    inside = (src >= 0) & (src < counts[:, None])
    src = src.clamp(0, t_max - 1)
    out = torch.gather(feats, 2, src[:, None, :].expand(n, m, frames))
    return out.float() * inside[:, None, :]


def spec_augment(x: torch.Tensor, generator: torch.Generator, *, freq_masks: int = 2, freq_width: int = 8,
                 time_masks: int = 2, time_width: int = 20) -> torch.Tensor:
    """SpecAugment (Park et al., 2019) without time warping: zero random mel bands and frame spans, per sample."""
    n, m, t = x.shape

    def masks(count: int, width: int, size: int) -> torch.Tensor:
        keep = torch.ones(n, size, dtype=torch.bool)
        if count <= 0 or width <= 0:
            return keep
        w = (torch.rand(n, count, generator=generator) * (width + 1)).long()
        s = (torch.rand(n, count, generator=generator) * (size - w).clamp(min=1)).long()
        pos = torch.arange(size)[None, None, :]
        hit = (pos >= s[..., None]) & (pos < (s + w)[..., None])
        return keep & ~hit.any(1)

    f_keep = masks(freq_masks, freq_width, m).to(x.device)
    t_keep = masks(time_masks, time_width, t).to(x.device)
    return x * f_keep[:, :, None] * t_keep[:, None, :]
