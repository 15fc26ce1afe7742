"""Training loop for the face branch (single process, CUDA, or torchrun/DDP).

Flat by design, in the spirit of torchvision's references/classification: read it top to bottom.
The dataset lives in memory as uint8 tensors (on the GPU when there is one), augmentation is batched,
and every epoch is seeded from (seed, epoch, rank), so ``--resume`` replays a killed run exactly.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from fer_core import atomic
from fer_core.errors import UserError
from fer_core.optim import build_optimizer, build_scheduler
from fer_core.run_dir import config_differences, refuse_changed_config, remove_run_files, saved_config_to_resume
from fer_face.augment import augment, to_float
from fer_core.checkpoint import load_checkpoint
from fer_core.device import pick_device
from fer_face.config import with_defaults
from fer_face.distributed import DistContext, all_reduce_sum, barrier, init_distributed, shutdown
from fer_face.inference import predict_logits, tta_settings
from fer_face.lineage import epochs_behind
from fer_face.models import get_backbone, model_from_config

LOG_EVERY = 10  # steps between host syncs (progress bar, NaN check)


def build_ema(model: torch.nn.Module, t_cfg: dict[str, Any], ckpt: dict | None):
    """timm's exponential moving average of the weights when ``train.ema_decay`` > 0, else None.

    It starts from the model as it stands (a warm restart's parent, or the resumed weights) and is restored
    from ``last.pt`` on ``--resume``. Build it before the DDP wrap: every rank sees the same all-reduced
    gradients, so every rank's average is identical and only rank 0 writes it.
    """
    decay = t_cfg["ema_decay"]
    if decay == 0:
        return None
    from timm.utils import ModelEmaV3

    ema = ModelEmaV3(model, decay=decay)
    if ckpt is not None:  # --resume has already refused a command whose ema_decay differs from the run's
        ema.module.load_state_dict(ckpt["ema"])
    return ema


def amp_settings(cfg: dict[str, Any], device: torch.device) -> tuple[bool, torch.dtype]:
    mode = cfg["train"]["amp"]
    enabled = device.type == "cuda" if mode == "auto" else mode == "on"
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return enabled, torch.bfloat16
    return enabled, torch.float16 if device.type == "cuda" else torch.bfloat16


def prepare_run_dir(out: Path, cfg: dict[str, Any], resume: bool, overwrite: bool, ctx: DistContext) -> dict | None:
    """Refuse to clobber runs; return the checkpoint to resume from (or None)."""
    if overwrite and ctx.is_main and out.exists():
        remove_run_files(out, ("last.pt", "best.pt", "metrics.json", "history.json", "config.json", "predictions"))
    barrier(ctx)
    if overwrite:
        return None
    saved = saved_config_to_resume(out, resume)
    if saved is None:
        return None
    refuse_changed_config(out, config_differences(with_defaults(saved["config"]), cfg,
                                                    ("model", "train", "augment", "eval")))
    return load_checkpoint(out / "last.pt", backbone=cfg["model"]["backbone"])


def train(cfg: dict[str, Any], *, data: str | None, out: str | Path, command: str, resume: bool = False,
          overwrite: bool = False, device: str = "auto", stop_after: int | None = None, progress: bool = True,
          strict_size: bool = False, evaluate: bool = True, compile_model: bool = False) -> Path:
    out = Path(out)
    get_backbone(cfg["model"]["backbone"])  # unknown backbone -> clear error before any work
    dev = pick_device(device)
    ctx = init_distributed(dev)
    if dev.type == "cuda":
        dev = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(dev)
    try:
        return _train(cfg, data, out, command, resume, overwrite, dev, ctx, stop_after, progress, strict_size, evaluate,
                      compile_model)
    finally:
        shutdown(ctx)


def _train(cfg, data, out, command, resume, overwrite, dev, ctx, stop_after, progress, strict_size, evaluate,
           compile_model) -> Path:
    from tqdm.auto import tqdm

    from fer_face.data import load_fer2013

    t_cfg, aug_cfg = cfg["train"], cfg["augment"]
    ckpt = prepare_run_dir(out, cfg, resume, overwrite, ctx)
    ds = load_fer2013(data, strict_size=strict_size, progress=progress and ctx.is_main)
    num_classes = len(ds.label_space)
    x_tr, y_tr = (torch.from_numpy(a) for a in ds.split_arrays("Training"))
    x_tr = x_tr.unsqueeze(1)
    x_val, y_val = ds.split_arrays("PublicTest")
    if dev.type == "cuda":  # the whole uint8 training set fits on any GPU: no loader, no host copies per step
        x_tr, y_tr = x_tr.pin_memory().to(dev, non_blocking=True), y_tr.pin_memory().to(dev, non_blocking=True)

    torch.manual_seed(t_cfg["seed"])
    model = model_from_config(cfg["model"], num_classes).to(dev)
    prior_epochs = int(ckpt["meta"].get("prior_epochs", 0)) if ckpt is not None else 0
    if ckpt is None and t_cfg["init_from"]:
        # warm restart: weights only; optimizer, schedule and epoch count start afresh
        parent = load_checkpoint(t_cfg["init_from"], backbone=cfg["model"]["backbone"], num_classes=num_classes)
        model.load_state_dict(parent["model"])
        prior_epochs = epochs_behind(parent["meta"], t_cfg["init_from"])
    if t_cfg["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, t_cfg)
    per_rank_batch = max(2, t_cfg["batch_size"] // ctx.world_size)
    sampler = DistributedSampler(range(len(y_tr)), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                 seed=t_cfg["seed"], drop_last=True)
    steps_per_epoch = len(sampler) // per_rank_batch
    if steps_per_epoch == 0:
        raise UserError(f"Training split has {len(y_tr)} images, fewer than one batch of {per_rank_batch}; lower --batch-size")
    sched = build_scheduler(opt, t_cfg, steps_per_epoch)
    use_amp, amp_dtype = amp_settings(cfg, dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=use_amp and amp_dtype == torch.float16)
    net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None) if ctx.enabled else model
    if compile_model:  # the training step only; validation, checkpoints and the EMA use the plain module
        net = torch.compile(net)

    history: list[dict[str, Any]] = []
    start_epoch, best_acc = 0, -1.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, best_acc = int(ckpt["epoch"]), float(ckpt["best_val_acc"])
        history = json.loads(ckpt["history_json"])
    ema = build_ema(model, t_cfg, ckpt)
    eval_model = ema.module if ema is not None else model  # what validation, best.pt and the evaluation see
    if ctx.is_main:
        atomic.write_json(out / "config.json", {
            "config": cfg, "command": command, "data": {"source": ds.source, "dataset": ds.name, "layout": ds.layout,
                                                        "notes": ds.notes},
            "num_classes": num_classes, "label_space": list(ds.label_space), "world_size": ctx.world_size,
            "device": str(dev), "compiled": compile_model, "versions": _versions(),
        })
        for note in ds.notes:
            print(f"note: {note}", file=sys.stderr)

    meta = {"backbone": cfg["model"]["backbone"], "num_classes": num_classes, "label_space": list(ds.label_space),
            "prior_epochs": prior_epochs}
    epochs_this_run = 0
    for epoch in range(start_epoch, t_cfg["epochs"]):
        torch.manual_seed(t_cfg["seed"] * 100_003 + epoch * 1009 + ctx.rank)  # dropout / drop-path stream
        gen = torch.Generator().manual_seed(t_cfg["seed"] * 7919 + epoch * 31 + ctx.rank)
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), dtype=torch.long)[: steps_per_epoch * per_rank_batch]
        batches = order.view(steps_per_epoch, per_rank_batch)
        net.train()
        loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        seen = 0
        t0 = time.perf_counter()
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{t_cfg['epochs']}", unit="step",
                   disable=not (progress and ctx.is_main), mininterval=1.0, file=sys.stderr, leave=False)
        for step, idx in enumerate(batches):
            idx = idx.to(x_tr.device, non_blocking=True)
            xb = to_float(x_tr[idx].to(dev, non_blocking=True))
            yb = y_tr[idx].to(dev, non_blocking=True)
            xb = augment(xb, aug_cfg, gen)
            if t_cfg["channels_last"]:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
                logits = net(xb)
                loss = F.cross_entropy(logits.float(), yb, label_smoothing=t_cfg["label_smoothing"])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if t_cfg["grad_clip"] > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), t_cfg["grad_clip"])
            scaler.step(opt)
            scaler.update()
            if sched is not None:
                sched.step()
            if ema is not None:
                ema.update(model)
            loss_sum += loss.detach().double() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(yb)
            if (step + 1) % LOG_EVERY == 0 or step + 1 == steps_per_epoch:
                running = loss_sum.item() / seen
                if not math.isfinite(running):
                    raise UserError(
                        f"training loss became NaN/inf in epoch {epoch + 1} (step {step + 1}); the last good checkpoint "
                        f"is {out / 'last.pt'} (epoch {epoch}); lower train.lr or set train.grad_clip and --resume"
                    )
                bar.set_postfix(loss=f"{running:.3f}", acc=f"{correct.item() / seen:.3f}",
                                img_s=f"{seen * ctx.world_size / (time.perf_counter() - t0):.0f}")
                bar.update(step + 1 - bar.n)
        bar.close()
        train_time = time.perf_counter() - t0
        totals = all_reduce_sum(torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), device=dev,
                                                                                    dtype=torch.float64)]), ctx)
        train_loss, train_acc = (totals[0] / totals[2]).item(), (totals[1] / totals[2]).item()

        if ctx.is_main:
            val_logits = predict_logits(eval_model, x_val, device=dev, batch_size=cfg["eval"]["batch_size"],
                                        **tta_settings(cfg["eval"]), channels_last=t_cfg["channels_last"],
                                        amp=use_amp)
            val_t = torch.from_numpy(val_logits)
            yv = torch.from_numpy(y_val)
            val_loss = F.cross_entropy(val_t, yv).item()
            val_acc = (val_t.argmax(1) == yv).double().mean().item()
            history.append({
                "epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                "val_acc": val_acc, "lr": opt.param_groups[0]["lr"], "epoch_time_s": round(train_time, 2),
                "train_images_per_s": round(totals[2].item() / train_time, 1),
            })
            if val_acc > best_acc:
                best_acc = val_acc
                atomic.torch_save({"model": eval_model.state_dict(), "meta": {**meta, "epoch": epoch + 1,
                                                                              "val_acc": val_acc}}, out / "best.pt")
            atomic.torch_save({
                "model": model.state_dict(), **({"ema": ema.module.state_dict()} if ema is not None else {}),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else {}, "scaler": scaler.state_dict(),
                "epoch": epoch + 1, "best_val_acc": best_acc, "history_json": json.dumps(history),
                "meta": {**meta, "epoch": epoch + 1},
            }, out / "last.pt")
            atomic.write_json(out / "history.json", history)
            print(f"epoch {epoch + 1:3d}/{t_cfg['epochs']}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
                  f"val loss {val_loss:.4f} acc {val_acc:.4f}  {history[-1]['train_images_per_s']:.0f} img/s  "
                  f"{train_time:.0f}s", file=sys.stderr, flush=True)
        barrier(ctx)
        epochs_this_run += 1
        if stop_after is not None and epochs_this_run >= stop_after and epoch + 1 < t_cfg["epochs"]:
            if ctx.is_main:
                print(f"stopped after {epochs_this_run} epoch(s) as asked; continue with --resume", file=sys.stderr)
            return out

    if evaluate and ctx.is_main:
        from fer_face.evaluate import evaluate_run

        evaluate_run(out, ds, command=command, device=str(dev), progress=progress)
    barrier(ctx)
    return out


def _versions() -> dict[str, str]:
    import timm

    return {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__}
