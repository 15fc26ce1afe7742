"""Training of the audio branch through ``fer_core.loop``.

Log-mels are computed once for every clip (in torch, on the training device); each batch cuts a randomly
shifted window, applies SpecAugment and mixup (or, with waveform augmentation on, recomputes its features from
augmented waves first). The best epoch on the validation actors is kept.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fer_core.device import pick_device
from fer_core.errors import UserError
from fer_core.loop import EpochStats, Fit, Task, fit, resume_checkpoint
from fer_core.run_dir import config_differences
from fer_core.versions import versions
from fer_audio import data as ravdess
from fer_audio.augment import WaveAugment, augment_waves
from fer_audio.config import feature_config
from fer_audio.evaluate import evaluate_run
from fer_audio.features import LogMel, aligned_features, crop, extract, pad_waves, random_shifts, spec_augment, window_starts
from fer_audio.inference import predict_logits
from fer_audio.models import check_model_name, model_from_config
from fer_audio.splits import ActorSplit


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float, rng: np.random.Generator, gen: torch.Generator):
    if alpha <= 0:
        return x, y, y, 1.0
    lam = float(rng.beta(alpha, alpha))
    lam = max(lam, 1 - lam)  # the first sample dominates: its label stays the "true" one for accuracy
    perm = torch.randperm(len(y), generator=gen).to(x.device)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


class SpeechTask(Task):
    """Clips of the training actors; a row of indices becomes a batch of augmented log-mel windows."""

    def __init__(self, cfg: dict[str, Any], ds, split: ActorSplit, features, dev: torch.device, feature_time_s: float):
        self.cfg, self.dev, self.feature_time_s = cfg, dev, feature_time_s
        self.t_cfg, self.a_cfg = cfg["train"], cfg["augment"]
        self.fcfg = feature_config(cfg)
        calm = cfg["data"]["calm"]
        self.num_classes = len(ds.label_space(calm))
        labels = torch.from_numpy(ds.labels(calm))
        idx_tr, idx_val = ds.split_indices(split, "train"), ds.split_indices(split, "validation")
        feats, counts = features
        self.y_tr, self.y_val = labels[idx_tr].to(dev), labels[idx_val].to(dev)
        self.f_val, self.c_val = feats[idx_val], counts[idx_val]
        self.f_tr, self.c_tr = feats[idx_tr], counts[idx_tr]
        self.n_train = len(idx_tr)
        self.steps_per_epoch = self.n_train // self.t_cfg["batch_size"]
        if self.steps_per_epoch == 0:
            raise UserError(f"the training actors have {self.n_train} clips, fewer than one batch of "
                            f"{self.t_cfg['batch_size']}; lower --batch-size")
        self.wave_aug = WaveAugment.from_config(self.a_cfg)
        if self.wave_aug.active:  # features of each batch are recomputed from its augmented waves
            self.waves_tr = [ds.waveform(i) for i in idx_tr]
            self.speakers_tr = torch.from_numpy(ds.actors[idx_tr])
            self.logmel = LogMel(self.fcfg).to(dev)
        self.rng: np.random.Generator | None = None

    def build_model(self) -> torch.nn.Module:
        return model_from_config(self.cfg, self.num_classes).to(self.dev)

    def epoch_batches(self, epoch: int, gen: torch.Generator) -> torch.Tensor:
        self.rng = np.random.default_rng([self.t_cfg["seed"], epoch])  # mixup's coefficients
        bs = self.t_cfg["batch_size"]
        return torch.randperm(self.n_train, generator=gen)[: self.steps_per_epoch * bs].view(self.steps_per_epoch, bs)

    def batch(self, b: torch.Tensor, gen: torch.Generator):
        a_cfg, frames = self.a_cfg, self.fcfg.frames
        if self.wave_aug.active:
            waves, lengths = pad_waves([self.waves_tr[i] for i in b.tolist()])
            waves = augment_waves(waves, lengths, self.speakers_tr[b], self.wave_aug, self.fcfg.sample_rate, gen)
            fb, cb = aligned_features(self.logmel, waves.to(self.dev), lengths.to(self.dev))
        else:
            fb, cb = self.f_tr[b.to(self.dev)], self.c_tr[b.to(self.dev)]
        b = b.to(self.dev)
        starts = window_starts(cb, frames, 0.5, random_shifts(len(b), a_cfg["max_shift_frames"], gen))
        xb = crop(fb, cb, frames, starts)
        xb = spec_augment(xb, gen, freq_masks=a_cfg["freq_masks"], freq_width=a_cfg["freq_width"],
                          time_masks=a_cfg["time_masks"], time_width=a_cfg["time_width"])
        xb, ya, yb, lam = mixup(xb, self.y_tr[b], self.t_cfg["mixup_alpha"], self.rng, gen)
        return xb, (ya, yb, lam)

    def loss(self, logits: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor]:
        ya, yb, lam = target
        ls = self.t_cfg["label_smoothing"]
        loss = lam * F.cross_entropy(logits, ya, label_smoothing=ls) + (1 - lam) * F.cross_entropy(
            logits, yb, label_smoothing=ls)
        return loss, ya

    def validate(self, model: torch.nn.Module, amp: bool) -> tuple[np.ndarray, np.ndarray]:
        logits = predict_logits(model, self.f_val, self.c_val, frames=self.fcfg.frames, crops=self.cfg["eval"]["crops"],
                                batch_size=self.cfg["eval"]["batch_size"], device=self.dev)
        return logits, self.y_val.cpu()

    def history_extra(self, epoch: EpochStats) -> dict[str, Any]:
        return {"epoch_cpu_s": round(epoch.train_cpu_s, 2),
                "feature_time_s": round(self.feature_time_s, 2) if epoch.first_of_run else 0.0}


def _differences(saved: dict[str, Any], cfg: dict[str, Any], split: ActorSplit) -> list[str]:
    diffs = config_differences(saved["config"], cfg, [s for s in cfg if s != "recipe"])
    if saved.get("split") != split.as_dict():
        diffs.append(f"split: run has {saved.get('split', {}).get('name')!r}, command gives {split.name!r}")
    return diffs


def train(cfg: dict[str, Any], *, data: str | None, out: str | Path, command: str, split: ActorSplit,
          resume: bool = False, overwrite: bool = False, device: str = "auto", stop_after: int | None = None,
          progress: bool = True, evaluate: bool = True) -> Path:
    out = Path(out)
    name = cfg["model"]["name"]
    check_model_name(name)
    t_cfg = cfg["train"]
    dev = pick_device(device)
    if t_cfg["threads"] > 0:
        torch.set_num_threads(t_cfg["threads"])
    ckpt = resume_checkpoint(out, resume=resume, overwrite=overwrite, backbone=name,
                             differences=lambda saved: _differences(saved, cfg, split))
    ds = ravdess.load_ravdess(data, sample_rate=cfg["data"]["sample_rate"], progress=progress, seed=t_cfg["seed"])
    label_space = ds.label_space(cfg["data"]["calm"])

    t_feat = time.perf_counter()
    feats, counts = extract([ds.waveform(i) for i in range(len(ds))], feature_config(cfg), device=dev, progress=progress)
    feats, counts = feats.to(dev), counts.to(dev)
    feature_time = time.perf_counter() - t_feat

    task = SpeechTask(cfg, ds, split, (feats, counts), dev, feature_time)
    run_config = {
        "config": cfg, "command": command, "split": split.as_dict(),
        "data": {"source": ds.source, "dataset": ds.name, "layout": ds.layout, "notes": ds.notes,
                 "clips": {s: int(len(ds.split_indices(split, s))) for s in ("train", "validation", "test")}},
        "num_classes": len(label_space), "label_space": list(label_space), "device": str(dev),
        "threads": torch.get_num_threads(), "nice": os.nice(0), "versions": versions("torchaudio"),
    }
    meta = {"backbone": name, "num_classes": len(label_space), "label_space": list(label_space)}
    finished = fit(task, Fit(out=out, train=t_cfg, meta=meta, run_config=run_config, device=dev, save_scaler=False,
                             best_ties_by_loss=True, stop_after=stop_after, progress=progress, notes=ds.notes), ckpt)
    if finished and evaluate:
        evaluate_run(out, ds, command=command, device=str(dev), features=(feats, counts), progress=progress)
    return out
