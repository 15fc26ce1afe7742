"""Training loop of the audio branch: read top to bottom.

Log-mels are computed once for every clip (in torch, on the training device); each batch cuts a
randomly shifted window, applies SpecAugment and mixup. Epochs are seeded from (seed, epoch), so
``--resume`` replays a killed run exactly. The best epoch on the validation actors is kept.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fer_core import atomic
from fer_core.device import pick_device
from fer_core.errors import UserError
from fer_core.optim import build_optimizer, build_scheduler
from fer_core.run_dir import config_differences, refuse_changed_config, remove_run_files, saved_config_to_resume
from fer_audio.augment import WaveAugment, augment_waves
from fer_audio.config import feature_config
from fer_audio.features import LogMel, aligned_features, crop, extract, pad_waves, random_shifts, spec_augment, window_starts
from fer_audio.inference import predict_logits
from fer_audio.models import check_model_name, model_from_config
from fer_audio.splits import ActorSplit

RUN_FILES = ("last.pt", "best.pt", "metrics.json", "history.json", "config.json", "predictions", "curves.png",
             "reliability.png")


def prepare_run_dir(out: Path, cfg: dict[str, Any], split: ActorSplit, resume: bool, overwrite: bool) -> dict | None:
    """Refuse to clobber runs; return the checkpoint to resume from (or None)."""
    from fer_core.checkpoint import load_checkpoint

    if overwrite and out.exists():
        remove_run_files(out, RUN_FILES)
        return None
    saved = saved_config_to_resume(out, resume)
    if saved is None:
        return None
    diffs = config_differences(saved["config"], cfg, [s for s in cfg if s != "recipe"])
    if saved.get("split") != split.as_dict():
        diffs.append(f"split: run has {saved.get('split', {}).get('name')!r}, command gives {split.name!r}")
    refuse_changed_config(out, diffs)
    return load_checkpoint(out / "last.pt", backbone=cfg["model"]["name"])


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float, rng: np.random.Generator, gen: torch.Generator):
    if alpha <= 0:
        return x, y, y, 1.0
    lam = float(rng.beta(alpha, alpha))
    lam = max(lam, 1 - lam)  # the first sample dominates: its label stays the "true" one for accuracy
    perm = torch.randperm(len(y), generator=gen).to(x.device)
    return lam * x + (1 - lam) * x[perm], y, y[perm], lam


def train(cfg: dict[str, Any], *, data: str | None, out: str | Path, command: str, split: ActorSplit,
          resume: bool = False, overwrite: bool = False, device: str = "auto", stop_after: int | None = None,
          progress: bool = True, evaluate: bool = True) -> Path:
    from tqdm.auto import tqdm

    from fer_audio.data import load_ravdess

    out = Path(out)
    check_model_name(cfg["model"]["name"])
    t_cfg, a_cfg = cfg["train"], cfg["augment"]
    dev = pick_device(device)
    if t_cfg["threads"] > 0:
        torch.set_num_threads(t_cfg["threads"])
    ckpt = prepare_run_dir(out, cfg, split, resume, overwrite)
    ds = load_ravdess(data, sample_rate=cfg["data"]["sample_rate"], progress=progress, seed=t_cfg["seed"])
    calm = cfg["data"]["calm"]
    label_space = ds.label_space(calm)
    labels = torch.from_numpy(ds.labels(calm))
    idx_tr, idx_val = ds.split_indices(split, "train"), ds.split_indices(split, "validation")

    t_feat = time.perf_counter()
    fcfg = feature_config(cfg)
    feats, counts = extract([ds.waveform(i) for i in range(len(ds))], fcfg, device=dev, progress=progress)
    feats, counts = feats.to(dev), counts.to(dev)
    feature_time = time.perf_counter() - t_feat

    torch.manual_seed(t_cfg["seed"])
    model = model_from_config(cfg, len(label_space)).to(dev)
    opt = build_optimizer(model, t_cfg)
    bs = t_cfg["batch_size"]
    steps_per_epoch = len(idx_tr) // bs
    if steps_per_epoch == 0:
        raise UserError(f"the training actors have {len(idx_tr)} clips, fewer than one batch of {bs}; lower --batch-size")
    sched = build_scheduler(opt, t_cfg, steps_per_epoch)

    history: list[dict[str, Any]] = []
    start_epoch, best = 0, (-1.0, math.inf)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        start_epoch, best = int(ckpt["epoch"]), (float(ckpt["best_val_acc"]), float(ckpt["best_val_loss"]))
        history = json.loads(ckpt["history_json"])
    atomic.write_json(out / "config.json", {
        "config": cfg, "command": command, "split": split.as_dict(),
        "data": {"source": ds.source, "dataset": ds.name, "layout": ds.layout, "notes": ds.notes,
                 "clips": {s: int(len(ds.split_indices(split, s))) for s in ("train", "validation", "test")}},
        "num_classes": len(label_space), "label_space": list(label_space), "device": str(dev),
        "threads": torch.get_num_threads(), "nice": os.nice(0), "versions": _versions(),
    })
    for note in ds.notes:
        print(f"note: {note}", file=sys.stderr)

    meta = {"backbone": cfg["model"]["name"], "num_classes": len(label_space), "label_space": list(label_space)}
    y_tr, y_val = labels[idx_tr].to(dev), labels[idx_val].to(dev)
    f_val, c_val = feats[idx_val], counts[idx_val]
    f_tr, c_tr = feats[idx_tr], counts[idx_tr]
    frames = fcfg.frames
    wave_aug = WaveAugment.from_config(a_cfg)
    if wave_aug.active:  # features of each batch are recomputed from its augmented waves
        waves_tr = [ds.waveform(i) for i in idx_tr]
        speakers_tr = torch.from_numpy(ds.actors[idx_tr])
        logmel = LogMel(fcfg).to(dev)
    epochs_this_run = 0
    for epoch in range(start_epoch, t_cfg["epochs"]):
        torch.manual_seed(t_cfg["seed"] * 100_003 + epoch * 1009)  # dropout stream
        gen = torch.Generator().manual_seed(t_cfg["seed"] * 7919 + epoch * 31)
        rng = np.random.default_rng([t_cfg["seed"], epoch])
        order = torch.randperm(len(idx_tr), generator=gen)[: steps_per_epoch * bs].view(steps_per_epoch, bs)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        t0, c0 = time.perf_counter(), time.process_time()
        bar = tqdm(order, desc=f"epoch {epoch + 1}/{t_cfg['epochs']}", unit="step", disable=not progress,
                   mininterval=1.0, file=sys.stderr, leave=False)
        for b in bar:
            if wave_aug.active:
                waves, lengths = pad_waves([waves_tr[i] for i in b.tolist()])
                waves = augment_waves(waves, lengths, speakers_tr[b], wave_aug, fcfg.sample_rate, gen)
                fb, cb = aligned_features(logmel, waves.to(dev), lengths.to(dev))
            else:
                fb, cb = f_tr[b.to(dev)], c_tr[b.to(dev)]
            b = b.to(dev)
            starts = window_starts(cb, frames, 0.5, random_shifts(len(b), a_cfg["max_shift_frames"], gen))
            xb = crop(fb, cb, frames, starts)
            xb = spec_augment(xb, gen, freq_masks=a_cfg["freq_masks"], freq_width=a_cfg["freq_width"],
                              time_masks=a_cfg["time_masks"], time_width=a_cfg["time_width"])
            xb, ya, yb, lam = mixup(xb, y_tr[b], t_cfg["mixup_alpha"], rng, gen)
            logits = model(xb)
            ls = t_cfg["label_smoothing"]
            loss = lam * F.cross_entropy(logits, ya, label_smoothing=ls) + (1 - lam) * F.cross_entropy(
                logits, yb, label_smoothing=ls)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t_cfg["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), t_cfg["grad_clip"])
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.item() * len(b)
            correct += int((logits.detach().argmax(1) == ya).sum())
            seen += len(b)
            if not math.isfinite(loss_sum):
                raise UserError(f"training loss became NaN/inf in epoch {epoch + 1}; the last good checkpoint is "
                                f"{out / 'last.pt'}; lower train.lr and --resume")
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        bar.close()
        train_time, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        val_logits = torch.from_numpy(predict_logits(model, f_val, c_val, frames=frames, crops=cfg["eval"]["crops"],
                                                     batch_size=cfg["eval"]["batch_size"], device=dev))
        yv = y_val.cpu()
        val_loss = F.cross_entropy(val_logits, yv).item()
        val_acc = (val_logits.argmax(1) == yv).double().mean().item()
        history.append({
            "epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen, "val_loss": val_loss,
            "val_acc": val_acc, "lr": opt.param_groups[0]["lr"], "epoch_time_s": round(train_time, 2),
            "epoch_cpu_s": round(train_cpu, 2),
            "feature_time_s": round(feature_time, 2) if epoch == start_epoch else 0.0,
        })
        if (val_acc, -val_loss) > (best[0], -best[1]):
            best = (val_acc, val_loss)
            atomic.torch_save({"model": model.state_dict(), "meta": {**meta, "epoch": epoch + 1, "val_acc": val_acc}},
                              out / "best.pt")
        atomic.torch_save({
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else {}, "epoch": epoch + 1,
            "best_val_acc": best[0], "best_val_loss": best[1], "history_json": json.dumps(history),
            "meta": {**meta, "epoch": epoch + 1},
        }, out / "last.pt")
        atomic.write_json(out / "history.json", history)
        print(f"epoch {epoch + 1:3d}/{t_cfg['epochs']}  train loss {history[-1]['train_loss']:.4f} "
              f"acc {history[-1]['train_acc']:.4f}  val loss {val_loss:.4f} acc {val_acc:.4f}  {train_time:.0f}s",
              file=sys.stderr, flush=True)
        epochs_this_run += 1
        if stop_after is not None and epochs_this_run >= stop_after and epoch + 1 < t_cfg["epochs"]:
            print(f"stopped after {epochs_this_run} epoch(s) as asked; continue with --resume", file=sys.stderr)
            return out

    if evaluate:
        from fer_audio.evaluate import evaluate_run

        evaluate_run(out, ds, command=command, device=str(dev), features=(feats, counts), progress=progress)
    return out


def _versions() -> dict[str, str]:
    import torchaudio

    return {"python": platform.python_version(), "torch": torch.__version__, "torchaudio": torchaudio.__version__}
