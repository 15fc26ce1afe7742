"""The training loop every network branch (face, speech) runs through, in the spirit of timm's
``train_one_epoch`` / ``validate``: read ``fit`` top to bottom.

The loop owns epochs, steps, mixed precision, DDP, the weight average (EMA), checkpoints and ``--resume``,
the history, the progress bar, ``--stop-after`` and the NaN guard. A branch hands it a ``Task``: its model
factory, its batches (rows of indices into tensors it holds), the batched augmentation that turns a row
into inputs, its loss and its validation logits.

Every epoch is seeded from (seed, epoch, rank): the global torch stream (dropout, drop-path) and ``gen``, the
generator the branch's batches and augmentation draw from in the order the branch draws. So ``--resume``
replays a killed run exactly.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from fer_core import atomic
from fer_core.checkpoint import load_checkpoint
from fer_core.distributed import DistContext, all_reduce_sum, barrier
from fer_core.errors import UserError
from fer_core.optim import build_optimizer, build_scheduler
from fer_core.run_dir import refuse_changed_config, remove_run_files, saved_config_to_resume

LOG_EVERY = 10  # steps between host syncs (progress bar, NaN check)
RUN_FILES = ("last.pt", "best.pt", "metrics.json", "history.json", "config.json", "predictions", "curves.png",
             "reliability.png")
SINGLE = DistContext()


class Task:
    """What a branch gives the loop. ``steps_per_epoch`` is set before ``fit``."""

    steps_per_epoch: int

    def build_model(self) -> torch.nn.Module:
        """The network on the training device; called right after ``torch.manual_seed(seed)``."""
        raise NotImplementedError

    def epoch_batches(self, epoch: int, gen: torch.Generator) -> torch.Tensor:
        """(steps_per_epoch, batch) sample indices of this epoch."""
        raise NotImplementedError

    def batch(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, Any]:
        """Inputs and target of one row of indices, augmented."""
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss to minimise and the labels accuracy counts against."""
        return F.cross_entropy(logits.float(), target), target

    def validate(self, model: torch.nn.Module, amp: bool) -> tuple[np.ndarray, np.ndarray]:
        """Validation logits and labels of ``model`` (the weight average when there is one)."""
        raise NotImplementedError

    def history_extra(self, epoch: "EpochStats") -> dict[str, Any]:
        """Branch fields appended to this epoch's history row."""
        return {}


@dataclass(frozen=True)
class EpochStats:
    epoch: int  # 0-based
    first_of_run: bool  # the first epoch this process trained (after a --resume: the first resumed one)
    train_time_s: float
    train_cpu_s: float
    samples: float  # training samples seen, all ranks together


@dataclass
class Fit:
    """How ``fit`` trains: ``train`` is the recipe's [train] table (epochs, seed, lr, grad_clip, ema_decay...)."""

    out: Path
    train: dict[str, Any]
    meta: dict[str, Any]  # the checkpoints' meta (backbone, num_classes, label_space, ...)
    run_config: dict[str, Any]  # config.json
    device: torch.device
    ctx: DistContext = SINGLE
    amp: str = "off"  # auto | on | off
    save_scaler: bool = True  # last.pt carries the AMP scaler state
    best_ties_by_loss: bool = False  # best.pt: higher val accuracy, then (when True) lower val loss
    compile_model: bool = False
    stop_after: int | None = None
    progress: bool = True
    notes: list[str] = field(default_factory=list)


def resume_checkpoint(out: Path, *, resume: bool, overwrite: bool, differences: Callable[[dict], list[str]],
                      backbone: str, ctx: DistContext = SINGLE) -> dict | None:
    """Refuse to clobber runs; return the checkpoint to resume from (or None).

    ``differences(saved_config_json)`` lists what the command changes against the run (refused on --resume).
    """
    if overwrite and ctx.is_main and out.exists():
        remove_run_files(out, RUN_FILES)
    barrier(ctx)
    if overwrite:
        return None
    saved = saved_config_to_resume(out, resume)
    if saved is None:
        return None
    refuse_changed_config(out, differences(saved))
    return load_checkpoint(out / "last.pt", backbone=backbone)


def amp_settings(mode: str, device: torch.device) -> tuple[bool, torch.dtype]:
    enabled = device.type == "cuda" if mode == "auto" else mode == "on"
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return enabled, torch.bfloat16
    return enabled, torch.float16 if device.type == "cuda" else torch.bfloat16


def build_ema(model: torch.nn.Module, decay: float, ckpt: dict | None, warmup_power: float = 0.0):
    """timm's exponential moving average of the weights when ``decay`` > 0, else None.

    It starts from the model as it stands (a warm restart's parent, or the resumed weights) and is restored
    from ``last.pt`` on ``--resume``. Build it before the DDP wrap: every rank sees the same all-reduced
    gradients, so every rank's average is identical and only rank 0 writes it. With ``warmup_power`` > 0 the
    decay at optimizer step n is min(decay, 1 - (1 + n) ** -warmup_power) (timm's warm-up): the average follows
    the weights closely at first, so validation in the first epochs scores trained weights, not the random start.
    """
    if decay == 0:
        return None
    from timm.utils import ModelEmaV3  # timm is slow to import and only the weight average needs it here

    ema = ModelEmaV3(model, decay=decay, use_warmup=warmup_power > 0, warmup_power=warmup_power or 2 / 3)
    if ckpt is not None:  # --resume has already refused a command whose ema_decay differs from the run's
        ema.module.load_state_dict(ckpt["ema"])
    return ema


def fit(task: Task, s: Fit, ckpt: dict | None) -> bool:
    """Train ``task`` from scratch or from ``ckpt`` (last.pt); True when every epoch is done, False when
    ``stop_after`` stopped it early."""
    from tqdm.auto import tqdm

    t_cfg, ctx, dev, out = s.train, s.ctx, s.device, s.out
    steps_per_epoch = task.steps_per_epoch
    torch.manual_seed(t_cfg["seed"])
    model = task.build_model()
    opt = build_optimizer(model, t_cfg)
    sched = build_scheduler(opt, t_cfg, steps_per_epoch)
    use_amp, amp_dtype = amp_settings(s.amp, dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=use_amp and amp_dtype == torch.float16)
    net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None) if ctx.enabled else model
    if s.compile_model:  # the training step only; validation, checkpoints and the EMA use the plain module
        net = torch.compile(net)

    history: list[dict[str, Any]] = []
    start_epoch, best = 0, (-1.0, math.inf)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        if "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch = int(ckpt["epoch"])
        best = (float(ckpt["best_val_acc"]), float(ckpt.get("best_val_loss", math.inf)))
        history = json.loads(ckpt["history_json"])
    ema = build_ema(model, t_cfg.get("ema_decay", 0.0), ckpt, t_cfg.get("ema_warmup_power", 0.0))
    ema_warmup = ema is not None and ema.use_warmup
    eval_model = ema.module if ema is not None else model  # what validation, best.pt and the evaluation see
    if ctx.is_main:
        atomic.write_json(out / "config.json", s.run_config)
        for note in s.notes:
            print(f"note: {note}", file=sys.stderr)

    autocast = (lambda: torch.autocast(dev.type, dtype=amp_dtype)) if use_amp else contextlib.nullcontext
    epochs = t_cfg["epochs"]
    epochs_this_run = 0
    for epoch in range(start_epoch, epochs):
        torch.manual_seed(t_cfg["seed"] * 100_003 + epoch * 1009 + ctx.rank)  # dropout / drop-path stream
        gen = torch.Generator().manual_seed(t_cfg["seed"] * 7919 + epoch * 31 + ctx.rank)
        batches = task.epoch_batches(epoch, gen)
        net.train()
        loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        seen = 0
        t0, c0 = time.perf_counter(), time.process_time()
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", unit="step",
                   disable=not (s.progress and ctx.is_main), mininterval=1.0, file=sys.stderr, leave=False)
        for step, idx in enumerate(batches):
            xb, target = task.batch(idx, gen)
            with autocast():
                logits = net(xb)
                loss, labels = task.loss(logits, target)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if t_cfg["grad_clip"] > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), t_cfg["grad_clip"])
            scaler.step(opt)
            scaler.update()
            if sched is not None:
                sched.step()
            if ema is not None:  # the step counts from the run's start, so --resume continues the same decays
                ema.update(model, step=epoch * steps_per_epoch + step + 1 if ema_warmup else None)
            loss_sum += loss.detach().double() * len(labels)
            correct += (logits.detach().argmax(1) == labels).sum()
            seen += len(labels)
            if (step + 1) % LOG_EVERY == 0 or step + 1 == steps_per_epoch:
                running = loss_sum.item() / seen
                if not math.isfinite(running):
                    raise UserError(
                        f"training loss became NaN/inf in epoch {epoch + 1} (step {step + 1}); the last good checkpoint "
                        f"is {out / 'last.pt'} (epoch {epoch}); lower train.lr or set train.grad_clip and --resume"
                    )
                bar.set_postfix(loss=f"{running:.3f}", acc=f"{correct.item() / seen:.3f}",
                                per_s=f"{seen * ctx.world_size / (time.perf_counter() - t0):.0f}")
                bar.update(step + 1 - bar.n)
        bar.close()
        train_time, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        totals = all_reduce_sum(torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), device=dev,
                                                                                    dtype=torch.float64)]), ctx)
        train_loss, train_acc = (totals[0] / totals[2]).item(), (totals[1] / totals[2]).item()

        if ctx.is_main:
            val_logits, val_labels = task.validate(eval_model, use_amp)
            val_t, yv = torch.from_numpy(val_logits), torch.as_tensor(val_labels)
            val_loss = F.cross_entropy(val_t, yv).item()
            val_acc = (val_t.argmax(1) == yv).double().mean().item()
            stats = EpochStats(epoch, epoch == start_epoch, train_time, train_cpu, totals[2].item())
            history.append({
                "epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                "val_acc": val_acc, "lr": opt.param_groups[0]["lr"], "epoch_time_s": round(train_time, 2),
                **task.history_extra(stats),
            })
            better = (val_acc, -val_loss) > (best[0], -best[1]) if s.best_ties_by_loss else val_acc > best[0]
            if better:
                best = (val_acc, val_loss)
                atomic.torch_save({"model": eval_model.state_dict(), "meta": {**s.meta, "epoch": epoch + 1,
                                                                              "val_acc": val_acc}}, out / "best.pt")
            atomic.torch_save({
                "model": model.state_dict(), **({"ema": ema.module.state_dict()} if ema is not None else {}),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else {},
                **({"scaler": scaler.state_dict()} if s.save_scaler else {}),
                "epoch": epoch + 1, "best_val_acc": best[0],
                **({"best_val_loss": best[1]} if s.best_ties_by_loss else {}),
                "history_json": json.dumps(history), "meta": {**s.meta, "epoch": epoch + 1},
            }, out / "last.pt")
            atomic.write_json(out / "history.json", history)
            per_s = f"{stats.samples / train_time:.0f}/s  " if train_time > 0 else ""
            print(f"epoch {epoch + 1:3d}/{epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
                  f"val loss {val_loss:.4f} acc {val_acc:.4f}  {per_s}{train_time:.0f}s", file=sys.stderr, flush=True)
        barrier(ctx)
        epochs_this_run += 1
        if s.stop_after is not None and epochs_this_run >= s.stop_after and epoch + 1 < epochs:
            if ctx.is_main:
                print(f"stopped after {epochs_this_run} epoch(s) as asked; continue with --resume", file=sys.stderr)
            return False
    return True
