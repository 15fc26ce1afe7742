"""Evaluate an audio run: chosen checkpoint -> logits -> temperature on the validation actors ->
predictions artifacts (``validation``, ``test``) and metrics.json on the test actors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fer_core.device import pick_device
from fer_core.errors import UserError
from fer_core.evaluate import RAVDESS, SplitLogits, calibrate, report
from fer_core.labels import FER7
from fer_core.report import build_metrics
from fer_core.run_dir import read_history
from fer_audio.config import feature_config
from fer_audio.features import extract
from fer_audio.inference import predict_logits
from fer_audio.labels import TO_FER7, to_fer7_probs
from fer_audio.run import load_run_config, load_run_model, saved_split

CAL_SPLIT, TEST_SPLIT = RAVDESS.calibration, RAVDESS.test
FIT_SPLITS = [RAVDESS.train, CAL_SPLIT]
PUBLISHED_RANGE = "48-69% (speaker-independent RAVDESS, 8 classes)"


def evaluate_run(run_dir: str | Path, ds, *, command: str, device: str = "cpu", features=None,
                 progress: bool = True) -> dict[str, Any]:
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
    idx = {s: ds.split_indices(split, s) for s in (RAVDESS.train, CAL_SPLIT, TEST_SPLIT)}
    splits = {s: SplitLogits(ids[i], labels[i], predict_logits(model, feats[i], counts[i], **kw)) for s, i in idx.items()}
    name = cfg["model"]["name"]
    arts = calibrate(
        run_dir, splits, calibration_split=CAL_SPLIT, write=(CAL_SPLIT, TEST_SPLIT), label_space=label_space,
        branch=f"audio/{name}", modality="audio", dataset=ds.name, fit_splits=FIT_SPLITS, command=saved["command"],
        extra=lambda s: {"model": name, "recipe": cfg.get("recipe"), "calm": calm, "split_protocol": split.name,
                         "actors": list(split.actors(s)), "checkpoint": which,
                         "checkpoint_epoch": saved["checkpoint_meta"]["epoch"], "crops": cfg["eval"]["crops"],
                         "sample_rate": fcfg.sample_rate})
    history = read_history(run_dir)
    train = splits[RAVDESS.train]
    test = arts[TEST_SPLIT]
    fer7_labels = np.asarray([FER7.index(TO_FER7.get(label_space[k], label_space[k])) for k in test.labels])
    fer7_acc = float((to_fer7_probs(test.probs, label_space).argmax(1) == fer7_labels).mean())
    validation = build_metrics(arts[CAL_SPLIT])
    return report(run_dir, test, command=saved["command"], history=history,
                  curves_title=f"audio {name} ({cfg.get('recipe')}, {split.name})", extra={
        "model": name,
        "recipe": cfg.get("recipe"),
        "calm": calm,
        "synthetic": ds.name == "synthetic",
        "split_protocol": split.as_dict(),
        "val_split": CAL_SPLIT,
        "val_accuracy": validation["accuracy"],
        "val_ece": validation["ece"],
        "train_accuracy": history[-1]["train_acc"] if history else None,
        "train_accuracy_clean": float((train.logits.argmax(1) == train.labels).mean()),
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
