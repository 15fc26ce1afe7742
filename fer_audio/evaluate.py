"""Evaluate an audio run: chosen checkpoint -> logits -> temperature on the validation actors ->
predictions artifacts (``validation``, ``test``) and metrics.json on the test actors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fer_core.artifact import Predictions, artifact_path
from fer_core.calibration import calibrated_probs, fit_temperature
from fer_core.device import pick_device
from fer_core.errors import UserError
from fer_core.labels import FER7
from fer_core.report import build_metrics
from fer_core.run_dir import read_history, write_evaluation
from fer_audio.config import feature_config
from fer_audio.labels import TO_FER7
from fer_audio.models import model_from_config
from fer_audio.splits import ActorSplit

CAL_SPLIT, TEST_SPLIT = "validation", "test"
FIT_SPLITS = ["train", CAL_SPLIT]
PUBLISHED_RANGE = "48-69% (speaker-independent RAVDESS, 8 classes)"


def load_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: not an audio run directory (no config.json)")
    saved = json.loads(path.read_text())
    if "split" not in saved or "features" not in saved.get("config", {}):
        raise UserError(f"{run_dir}: config.json is not from 'fer audio train'")
    return saved


def load_run_model(run_dir: Path, device: torch.device, which: str = "best") -> tuple[torch.nn.Module, dict]:
    from fer_core.checkpoint import load_checkpoint

    saved = load_run_config(run_dir)
    cfg = saved["config"]
    ckpt = load_checkpoint(Path(run_dir) / f"{which}.pt", backbone=cfg["model"]["name"],
                           num_classes=saved["num_classes"])
    model = model_from_config(cfg, saved["num_classes"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), {**saved, "checkpoint_meta": ckpt["meta"]}


def saved_split(saved: dict[str, Any]) -> ActorSplit:
    s = saved["split"]
    return ActorSplit(s["name"], tuple(s["train"]), tuple(s["validation"]), tuple(s["test"]))


def to_fer7_probs(probs: np.ndarray, label_space: tuple[str, ...]) -> np.ndarray:
    """Sum the probability of RAVDESS classes that share a FER7 class (calm + neutral)."""
    out = np.zeros((len(probs), len(FER7)))
    for j, name in enumerate(label_space):
        out[:, FER7.index(TO_FER7.get(name, name))] += probs[:, j]
    return out


def evaluate_run(run_dir: str | Path, ds, *, command: str, device: str = "cpu", features=None,
                 progress: bool = True) -> dict[str, Any]:
    from fer_audio.features import extract
    from fer_audio.inference import predict_logits

    run_dir = Path(run_dir)
    dev = pick_device(device)
    saved = load_run_config(run_dir)
    cfg = saved["config"]
    which = cfg["eval"]["checkpoint"]
    model, saved = load_run_model(run_dir, dev, which)
    split = saved_split(saved)
    fcfg = feature_config(cfg)
    calm = cfg["data"]["calm"]
    label_space = ds.label_space(calm)
    if list(label_space) != saved["label_space"]:
        raise UserError(f"{run_dir}: run has labels {saved['label_space']}, data gives {list(label_space)}")
    if features is None:
        features = extract([ds.waveform(i) for i in range(len(ds))], fcfg, device=dev, progress=progress)
    feats, counts = features
    labels, ids = ds.labels(calm), ds.ids
    kw = dict(frames=fcfg.frames, crops=cfg["eval"]["crops"], batch_size=cfg["eval"]["batch_size"], device=dev)
    idx = {s: ds.split_indices(split, s) for s in ("train", CAL_SPLIT, TEST_SPLIT)}
    logits = {s: predict_logits(model, feats[i], counts[i], **kw) for s, i in idx.items()}
    temperature = fit_temperature(logits[CAL_SPLIT], labels[idx[CAL_SPLIT]])
    name = cfg["model"]["name"]
    arts = {}
    for s in (CAL_SPLIT, TEST_SPLIT):
        arts[s] = Predictions(
            ids=ids[idx[s]], labels=labels[idx[s]], logits=logits[s], probs=calibrated_probs(logits[s], temperature),
            label_space=label_space, branch=f"audio/{name}", modality="audio", dataset=ds.name, split=s,
            temperature=temperature, calibration_split=CAL_SPLIT, fit_splits=FIT_SPLITS, command=saved["command"],
            extra={"model": name, "recipe": cfg.get("recipe"), "calm": calm, "split_protocol": split.name,
                   "actors": list(split.actors(s)), "checkpoint": which,
                   "checkpoint_epoch": saved["checkpoint_meta"]["epoch"], "crops": cfg["eval"]["crops"],
                   "sample_rate": fcfg.sample_rate},
        )
        arts[s].save(artifact_path(run_dir, s))
    history = read_history(run_dir)
    y_tr = labels[idx["train"]]
    test = arts[TEST_SPLIT]
    fer7_labels = np.asarray([FER7.index(TO_FER7.get(label_space[k], label_space[k])) for k in test.labels])
    fer7_acc = float((to_fer7_probs(test.probs, label_space).argmax(1) == fer7_labels).mean())
    validation = build_metrics(arts[CAL_SPLIT])
    metrics = build_metrics(test, extra={
        "model": name,
        "recipe": cfg.get("recipe"),
        "calm": calm,
        "synthetic": ds.name == "synthetic",
        "split_protocol": split.as_dict(),
        "val_split": CAL_SPLIT,
        "val_accuracy": validation["accuracy"],
        "val_ece": validation["ece"],
        "train_accuracy": history[-1]["train_acc"] if history else None,
        "train_accuracy_clean": float((logits["train"].argmax(1) == y_tr).mean()),
        "accuracy_fer7": fer7_acc,
        "checkpoint": which,
        "best_epoch": saved["checkpoint_meta"]["epoch"],
        "epochs": len(history),
        "train_time_s": round(sum(h["epoch_time_s"] for h in history), 1),
        "train_cpu_s": round(sum(h.get("epoch_cpu_s", 0.0) for h in history), 1),
        "feature_time_s": round(sum(h.get("feature_time_s", 0.0) for h in history), 1),
        "threads": saved.get("threads"),
        "nice": saved.get("nice"),
        "published": PUBLISHED_RANGE,
        "evaluate_command": command if command != saved["command"] else None,
    })
    return write_evaluation(run_dir, metrics, command=saved["command"], history=history,
                            curves_title=f"audio {name} ({cfg.get('recipe')}, {split.name})")
