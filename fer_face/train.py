"""Training of the face branch (single process, CUDA, or torchrun/DDP) through ``fer_core.loop``.

The dataset lives in memory as uint8 tensors (on the GPU when there is one) and augmentation is batched;
this module supplies the model, the batches, the augmentation and the loss, the loop does the rest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from fer_core.device import pick_device
from fer_core.distill import Teacher, distillation_loss, load_teacher
from fer_core.distributed import DistContext, barrier, init_distributed, shutdown
from fer_core.errors import UserError
from fer_core.loop import EpochStats, Fit, Task, fit, resume_checkpoint
from fer_core.run_dir import config_differences
from fer_core.versions import versions
from fer_face.augment import augment, to_float
from fer_face.config import with_defaults
from fer_face.data import load_fer2013
from fer_face.evaluate import evaluate_run
from fer_face.inference import predict_logits, tta_settings
from fer_face.lineage import load_parent
from fer_face.models import get_backbone, model_from_config


class FaceTask(Task):
    """FER2013 images as uint8 tensors; batches drawn by a DistributedSampler (one shard per rank).

    With a ``teacher`` (``train.teacher``) each batch's target carries the teacher's probabilities of its images
    and the loss is the distillation loss (``fer_core.distill``).
    """

    def __init__(self, cfg: dict[str, Any], ds, dev: torch.device, ctx: DistContext, parent: dict | None,
                 teacher: Teacher | None = None):
        self.cfg, self.dev, self.parent = cfg, dev, parent
        self.t_cfg = cfg["train"]
        self.num_classes = len(ds.label_space)
        x_tr, y_tr = (torch.from_numpy(a) for a in ds.split_arrays("Training"))
        x_tr = x_tr.unsqueeze(1)
        self.x_val, self.y_val = ds.split_arrays("PublicTest")
        if dev.type == "cuda":  # the whole uint8 training set fits on any GPU: no loader, no host copies per step
            x_tr, y_tr = x_tr.pin_memory().to(dev, non_blocking=True), y_tr.pin_memory().to(dev, non_blocking=True)
        self.x_tr, self.y_tr = x_tr, y_tr
        self.teacher = None if teacher is None else (teacher.probs.to(x_tr.device), teacher.present.to(x_tr.device))
        self.per_rank_batch = max(2, self.t_cfg["batch_size"] // ctx.world_size)
        self.sampler = DistributedSampler(range(len(y_tr)), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                          seed=self.t_cfg["seed"], drop_last=True)
        self.steps_per_epoch = len(self.sampler) // self.per_rank_batch
        if self.steps_per_epoch == 0:
            raise UserError(f"Training split has {len(y_tr)} images, fewer than one batch of {self.per_rank_batch}; "
                            "lower --batch-size")

    def build_model(self) -> torch.nn.Module:
        model = model_from_config(self.cfg["model"], self.num_classes).to(self.dev)
        if self.parent is not None:  # warm restart: weights only; optimizer, schedule and epoch count start afresh
            try:
                model.load_state_dict(self.parent["model"])
            except RuntimeError as e:
                raise UserError(f"train.init_from {self.t_cfg['init_from']}: its weights do not fit this recipe's "
                                f"model section ({str(e).splitlines()[-1].strip()[:160]}); train with the parent's "
                                "recipe") from None
        if self.t_cfg["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        return model

    def epoch_batches(self, epoch: int, gen: torch.Generator) -> torch.Tensor:
        self.sampler.set_epoch(epoch)
        order = torch.tensor(list(self.sampler), dtype=torch.long)[: self.steps_per_epoch * self.per_rank_batch]
        return order.view(self.steps_per_epoch, self.per_rank_batch)

    def batch(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, Any]:
        idx = idx.to(self.x_tr.device, non_blocking=True)
        xb = to_float(self.x_tr[idx].to(self.dev, non_blocking=True))
        yb = self.y_tr[idx].to(self.dev, non_blocking=True)
        xb = augment(xb, self.cfg["augment"], gen)
        if self.t_cfg["channels_last"]:
            xb = xb.contiguous(memory_format=torch.channels_last)
        if self.teacher is None:
            return xb, yb
        probs, present = self.teacher
        return xb, (yb, probs[idx].to(self.dev, non_blocking=True), present[idx].to(self.dev, non_blocking=True))

    def loss(self, logits: torch.Tensor, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self.teacher is None:
            return F.cross_entropy(logits.float(), target, label_smoothing=self.t_cfg["label_smoothing"]), target
        labels, probs, present = target
        return distillation_loss(logits, labels, probs, present, weight=self.t_cfg["distill_weight"],
                                 temperature=self.t_cfg["distill_temperature"],
                                 label_smoothing=self.t_cfg["label_smoothing"]), labels

    def validate(self, model: torch.nn.Module, amp: bool) -> tuple[np.ndarray, np.ndarray]:
        # train.validate_tta=false: the epoch is picked on the plain view (a tenth of the work with ten views);
        # the evaluation still uses the recipe's views
        views = tta_settings(self.cfg["eval"]) if self.t_cfg["validate_tta"] else {"tta_flip": False, "tta_shift_px": 0}
        logits = predict_logits(model, self.x_val, device=self.dev, batch_size=self.cfg["eval"]["batch_size"],
                                **views, channels_last=self.t_cfg["channels_last"], amp=amp)
        return logits, self.y_val

    def history_extra(self, epoch: EpochStats) -> dict[str, Any]:
        return {"train_images_per_s": round(epoch.samples / epoch.train_time_s, 1)}


def refuse_other_teacher(out: Path, teacher: Teacher) -> None:
    """--resume reads the teacher file the run started with, byte for byte."""
    saved = json.loads((out / "config.json").read_text()).get("teacher") or {}
    if saved.get("sha256") != teacher.sha256:
        raise UserError(f"{out}: the run was trained with teacher {saved.get('file')} (sha256 "
                        f"{str(saved.get('sha256'))[:12]}...), {teacher.path} differs (sha256 {teacher.sha256[:12]}...); "
                        "resume with that file or start a new run")


def train(cfg: dict[str, Any], *, data: str | None, out: str | Path, command: str, resume: bool = False,
          overwrite: bool = False, device: str = "auto", stop_after: int | None = None, progress: bool = True,
          strict_size: bool = False, evaluate: bool = True, compile_model: bool = False) -> Path:
    out = Path(out)
    backbone = cfg["model"]["backbone"]
    get_backbone(backbone)  # unknown backbone -> clear error before any work
    dev = pick_device(device)
    ctx = init_distributed(dev)
    if dev.type == "cuda":
        dev = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(dev)
    try:
        ckpt = resume_checkpoint(
            out, resume=resume, overwrite=overwrite, backbone=backbone, ctx=ctx,
            differences=lambda saved: config_differences(with_defaults(saved["config"]), cfg,
                                                         ("model", "train", "augment", "eval")))
        ds = load_fer2013(data, strict_size=strict_size, progress=progress and ctx.is_main)
        num_classes = len(ds.label_space)
        t_cfg = cfg["train"]
        parent, prior_epochs = None, ckpt["meta"].get("prior_epochs", 0) if ckpt is not None else 0
        if ckpt is None and t_cfg["init_from"]:
            parent, prior_epochs = load_parent(t_cfg["init_from"], backbone=backbone, num_classes=num_classes)
        teacher = None
        if t_cfg["teacher"]:
            teacher = load_teacher(t_cfg["teacher"], ids=ds.split_ids("Training"), label_space=ds.label_space,
                                   split="Training")
            if ckpt is not None:
                refuse_other_teacher(out, teacher)
        task = FaceTask(cfg, ds, dev, ctx, parent, teacher)
        run_config = {
            "config": cfg, "command": command, "data": {"source": ds.source, "dataset": ds.name, "layout": ds.layout,
                                                        "notes": ds.notes},
            "num_classes": num_classes, "label_space": list(ds.label_space), "world_size": ctx.world_size,
            "device": str(dev), "compiled": compile_model, "versions": versions("timm"),
            **({"teacher": teacher.describe()} if teacher is not None else {}),
        }
        meta = {"backbone": backbone, "num_classes": num_classes, "label_space": list(ds.label_space),
                "prior_epochs": prior_epochs}
        finished = fit(task, Fit(out=out, train=t_cfg, meta=meta, run_config=run_config, device=dev, ctx=ctx,
                                 amp=t_cfg["amp"], compile_model=compile_model, stop_after=stop_after,
                                 progress=progress, notes=ds.notes), ckpt)
        if finished and evaluate and ctx.is_main:
            evaluate_run(out, ds, command=command, device=str(dev), progress=progress)
        barrier(ctx)
        return out
    finally:
        shutdown(ctx)
