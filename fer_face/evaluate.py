"""Evaluate a face run: best checkpoint -> logits -> temperature on PublicTest -> artifacts and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fer_core import atomic
from fer_core.checkpoint import load_checkpoint
from fer_core.device import pick_device
from fer_core.errors import UserError
from fer_core.evaluate import FER2013, SplitLogits, calibrate, report
from fer_core.recipe import parse_override
from fer_core.report import build_metrics
from fer_core.run_dir import read_history
from fer_face.config import apply_overrides, with_defaults
from fer_face.inference import predict_logits, tta_settings
from fer_face.lineage import warm_start_command, warm_start_epochs
from fer_face.models import get_backbone, model_from_config

CAL_SPLIT, TEST_SPLIT = FER2013.calibration, FER2013.test


def load_run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: not a face run directory (no config.json)")
    saved = json.loads(path.read_text())
    return {**saved, "config": with_defaults(saved["config"])}


def load_run_model(run_dir: Path, device: torch.device, which: str = "best") -> tuple[torch.nn.Module, dict]:
    saved = load_run_config(run_dir)
    cfg = saved["config"]
    ckpt = load_checkpoint(run_dir / f"{which}.pt", backbone=cfg["model"]["backbone"], num_classes=saved["num_classes"])
    cfg = {**cfg, "model": {**cfg["model"], "pretrained": False}}  # weights come from the checkpoint
    model = model_from_config(cfg["model"], saved["num_classes"])
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    if cfg["train"]["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    return model, {**saved, "checkpoint_meta": ckpt["meta"]}


def evaluate_run(run_dir: str | Path, ds, *, command: str, device: str = "auto", progress: bool = True,
                 eval_overrides: list[str] = (), train_predictions: bool = False) -> dict:
    """``eval_overrides`` (``eval.key=value``) change how a finished run is evaluated, e.g. its test-time views;
    the run's ``config.json`` is updated to match once the new artifacts are written. ``train_predictions`` also
    writes the Training split's artifact (same views and temperature; in-sample), what a teacher is built from."""
    run_dir = Path(run_dir)
    dev = pick_device(device)
    model, saved = load_run_model(run_dir, dev)
    if eval_overrides:
        saved["config"] = _with_eval_overrides(saved["config"], eval_overrides)
    cfg = saved["config"]
    views = tta_settings(cfg["eval"])
    kw = dict(device=dev, batch_size=cfg["eval"]["batch_size"], channels_last=cfg["train"]["channels_last"],
              **views)
    scored = (CAL_SPLIT, TEST_SPLIT) + ((FER2013.train,) if train_predictions else ())
    splits = {s: SplitLogits(ds.split_ids(s), ds.split_arrays(s)[1], predict_logits(model, ds.split_arrays(s)[0], **kw))
              for s in scored}
    x_train, y_train = ds.split_arrays(FER2013.train)
    plain = {**kw, "tta_flip": False, "tta_shift_px": 0}
    train_clean_acc = float((predict_logits(model, x_train, **plain).argmax(1) == y_train).mean())
    backbone = cfg["model"]["backbone"]
    extra = {"backbone": backbone, "recipe": cfg.get("recipe"), "checkpoint_epoch": saved["checkpoint_meta"]["epoch"],
             **views}
    arts = calibrate(run_dir, splits, calibration_split=CAL_SPLIT, write=scored,
                     calibration=cfg["eval"]["calibration"],
                     extra=lambda split: extra, label_space=ds.label_space, branch=f"face/{backbone}",
                     modality="face", dataset=ds.name, fit_splits=[FER2013.train, CAL_SPLIT], command=saved["command"])
    history = read_history(run_dir)
    spec = get_backbone(backbone)
    public = build_metrics(arts[CAL_SPLIT])
    if eval_overrides:
        config = {k: v for k, v in saved.items() if k != "checkpoint_meta"}
        atomic.write_json(run_dir / "config.json", config)
    return report(run_dir, arts[TEST_SPLIT], command=saved["command"], history=history,
                  curves_title=f"{backbone} ({cfg.get('recipe')})", extra={
        "backbone": backbone,
        "recipe": cfg.get("recipe"),
        "synthetic": ds.name == "synthetic",
        "train_accuracy": history[-1]["train_acc"] if history else None,
        "train_accuracy_clean": train_clean_acc,
        "val_split": CAL_SPLIT,
        "val_accuracy": public["accuracy"],
        "best_epoch": saved["checkpoint_meta"]["epoch"],
        "epochs": len(history),
        "warm_start_from": cfg["train"]["init_from"] or None,
        "prior_epochs": warm_start_epochs(cfg["train"]),
        "warm_start_command": warm_start_command(cfg["train"]),
        "train_time_s": round(sum(h["epoch_time_s"] for h in history), 1),
        "train_images_per_s": round(float(np.median([h["train_images_per_s"] for h in history])), 1) if history else None,
        "paper": {"train_accuracy": spec.paper_train_acc, "test_accuracy": spec.paper_test_acc},
        "evaluate_command": command if command != saved["command"] else None,
    })


def _with_eval_overrides(cfg: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        section = parse_override(text)[0]
        if section != "eval":
            raise UserError(f"--set {text}: only eval.* settings can change after training (this run is trained)")
    return apply_overrides(cfg, list(overrides))
