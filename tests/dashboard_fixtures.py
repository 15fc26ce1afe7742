"""Fixture results trees for the dashboard tests, written with the project's own artifact/metrics code.

Branch logits are simulated (label signal + noise, deliberately over-confident), the temperature is fit
on the calibration split with ``fer_core.calibration``, and every number the dashboard shows comes from
``fer_core.report.build_metrics`` / ``fer_core.metrics`` on those predictions, never typed in here.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from fer_core import atomic, zoo
from fer_core.artifact import Predictions, artifact_path
from fer_core.calibration import calibrated_probs, fit_temperature
from fer_core.labels import FER7
from fer_core.report import build_metrics
from fer_face.models import get_backbone

RAVDESS8 = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
N_PER_SPLIT = 280


def _logits(rng: np.random.Generator, labels: np.ndarray, c: int, signal: float, overconfidence: float = 2.5):
    z = rng.normal(0, 1, (len(labels), c))
    z[np.arange(len(labels)), labels] += signal
    return z * overconfidence


def _split_data(rng, split: str, c: int, n: int = N_PER_SPLIT):
    labels = rng.integers(0, c, n)
    ids = np.array([f"{split}_{i:05d}.jpg" for i in range(n)])
    return ids, labels


def _history(epochs: int, final_train: float, final_val: float, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for e in range(1, epochs + 1):
        frac = 1 - np.exp(-3 * e / epochs)
        out.append({
            "epoch": e, "train_loss": float(1.9 - 1.4 * frac + rng.normal(0, 0.01)),
            "train_acc": float(0.25 + (final_train - 0.25) * frac), "val_loss": float(1.85 - 0.8 * frac),
            "val_acc": float(0.22 + (final_val - 0.22) * frac), "lr": 1e-3 * (1 - e / (epochs + 1)),
            "epoch_time_s": 60.0 + e, "train_images_per_s": 400.0 + e,
        })
    return out


def write_branch(run_dir: Path, *, branch: str, modality: str, dataset: str, label_space, splits, seed: int,
                 signal: float, extra: dict | None = None, history: list | None = None) -> dict[str, Any]:
    """A finished branch run: predictions for (calibration, test) splits, metrics.json, history/config."""
    rng = np.random.default_rng(seed)
    cal_split, test_split = splits
    c = len(label_space)
    data = {s: _split_data(np.random.default_rng(zlib.crc32(s.encode()) + c), s, c) for s in splits}
    logits = {s: _logits(rng, data[s][1], c, signal) for s in splits}
    temperature = fit_temperature(logits[cal_split], data[cal_split][1])
    arts = {}
    for s in splits:
        arts[s] = Predictions(
            ids=data[s][0], labels=data[s][1], logits=logits[s], probs=calibrated_probs(logits[s], temperature),
            label_space=label_space, branch=branch, modality=modality, dataset=dataset, split=s,
            temperature=temperature, calibration_split=cal_split, fit_splits=["Training", cal_split],
            command=f"fer fixture {branch}",
        )
        arts[s].save(artifact_path(run_dir, s))
    more = dict(extra or {})
    more.setdefault("val_accuracy", build_metrics(arts[cal_split])["accuracy"])
    m = build_metrics(arts[test_split], extra=more)
    atomic.write_json(run_dir / "metrics.json", m)
    atomic.write_json(run_dir / "config.json", {"command": f"fer fixture {branch}", "seed": seed})
    if history is not None:
        atomic.write_json(run_dir / "history.json", history)
    return m


def write_face(run_dir: Path, backbone: str, recipe: str, seed: int, signal: float, train_acc: float) -> dict[str, Any]:
    spec = get_backbone(backbone)
    hist = _history(6, train_acc, 0.6, seed)
    return write_branch(
        run_dir, branch=f"face/{backbone}", modality="face", dataset="fer2013", label_space=FER7,
        splits=("PublicTest", "PrivateTest"), seed=seed, signal=signal, history=hist,
        extra={"backbone": backbone, "recipe": recipe, "synthetic": False, "train_accuracy": hist[-1]["train_acc"],
               "train_accuracy_clean": hist[-1]["train_acc"] + 0.02, "best_epoch": 5, "epochs": len(hist),
               "paper": {"train_accuracy": spec.paper_train_acc, "test_accuracy": spec.paper_test_acc}},
    )


def write_ensemble(run_dir: Path, branch_dirs: dict[str, Path]) -> dict[str, Any]:
    """The real ``fer ensemble`` code: a log-pool fusion, its ablation and LAC conformal sets."""
    from ensemble.ablate import run_ablate
    from ensemble.conformal import run_conformal
    from ensemble.fuse import FuseOptions, run_fuse

    dirs = list(branch_dirs.values())
    m = run_fuse(dirs, method="logpool", out=run_dir, options=FuseOptions(), command="fer ensemble fuse (fixture)",
                 name="fusion/logpool", quiet=True)
    run_ablate(dirs, methods=["logpool"], out=run_dir, options=FuseOptions(), command="fer ensemble ablate (fixture)",
               progress=False, quiet=True)
    run_conformal(run_dir, coverage=0.9, method="lac", command="fer ensemble conformal (fixture)", quiet=True)
    return m


def write_fusion(run_dir: Path, branch_dirs: list[Path], fingerprints: dict[str, str]) -> Path:
    """A log-pool fusion of ``branch_dirs`` (real ``fer ensemble fuse``) whose members then claim the identities
    ``fingerprints`` (member name -> fingerprint): how a fusion fit on other runs is made to stand for them."""
    from ensemble.fuse import FuseOptions, run_fuse

    run_fuse(branch_dirs, method="logpool", out=run_dir, options=FuseOptions(), command="fer ensemble fuse (fixture)",
             quiet=True)
    path = run_dir / "fusion.json"
    fusion = json.loads(path.read_text())
    for member in fusion["branches"]:
        member["fingerprint"] = fingerprints[member["name"]]
    atomic.write_json(path, fusion)
    return run_dir


def zoo_with_a_face_model(work: Path) -> Path:
    """The package's model zoo when it publishes a default face model; else a copy of it in ``work`` with a tiny
    face model added (one epoch on generated faces, published with ``fer models add``)."""
    shipped = zoo.load_manifest(zoo.SHIPPED_DIR)
    if any(m.branch == "face" and m.default for m in shipped.models):
        return zoo.SHIPPED_DIR
    zoo_dir, run = work / "zoo", work / "tiny-face"
    shutil.copytree(zoo.SHIPPED_DIR, zoo_dir)
    for args in (["face", "train", "--backbone", "vgg48_tiny", "--data", "synthetic", "--epochs", "1",
                  "--input-size", "48", "--set", "model.head_hidden=64", "--set", "train.batch_size=64",
                  "--set", "model.drop_path_rate=0",
                  "--out", str(run), "--no-progress"],
                 ["models", "add", str(run), "--name", "tiny", "--default", "--zoo", str(zoo_dir)]):
        done = subprocess.run([sys.executable, "-m", "fer_core.cli", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    return zoo_dir


def write_cv(cv_dir: Path, folds: int = 2) -> dict[str, dict[str, Any]]:
    """Audio folds written like ``fer audio cv``'s, summarised by its real ``write_summary``."""
    from fer_audio.crossval import KEYS, write_summary

    per_fold, out = [], {}
    for f in range(1, folds + 1):
        m = write_branch(cv_dir / f"fold-{f}", branch="audio", modality="audio", dataset="ravdess",
                         label_space=RAVDESS8, splits=("validation", "test"), seed=20 + f, signal=1.0)
        out[f"ravdess/{cv_dir.name}/fold-{f}"] = m
        per_fold.append({"fold": f, "test_actors": list(range(f, 25, folds)), "n": m["n"], **{k: m.get(k) for k in KEYS}})
    write_summary(cv_dir, folds, "fer audio cv (fixture)", per_fold, quiet=True)
    return out


def build_results(root: Path, *, corrupt: bool = True, in_progress: bool = True) -> dict[str, dict[str, Any]]:
    """A results tree like the committed one; returns the metrics.json dicts by run id."""
    out: dict[str, dict[str, Any]] = {}
    faces = {"mobilenetv2_100": ("paper", 11, 1.3, 0.93), "efficientnet_b0": ("improved", 12, 1.6, 0.86)}
    branch_dirs = {}
    for backbone, (recipe, seed, signal, train_acc) in faces.items():
        d = root / "fer2013" / backbone
        out[f"fer2013/{backbone}"] = write_face(d, backbone, recipe, seed, signal, train_acc)
        branch_dirs[f"face/{backbone}"] = d
    lm = root / "fer2013" / "landmarks"
    out["fer2013/landmarks"] = write_branch(
        lm, branch="landmarks", modality="landmarks", dataset="fer2013", label_space=FER7,
        splits=("PublicTest", "PrivateTest"), seed=13, signal=0.8)
    branch_dirs["landmarks"] = lm
    out["fer2013/ensemble"] = write_ensemble(root / "fer2013" / "ensemble", branch_dirs)
    out["ravdess/audio"] = write_branch(
        root / "ravdess" / "audio", branch="audio", modality="audio", dataset="ravdess", label_space=RAVDESS8,
        splits=("validation", "test"), seed=14, signal=1.0, history=_history(4, 0.8, 0.5, 14))
    out.update(write_cv(root / "ravdess" / "kfold2"))
    if corrupt:
        bad = root / "fer2013" / "broken"
        bad.mkdir(parents=True)
        (bad / "metrics.json").write_text('{"split": "PrivateTest", "n": 10, "accu')  # a half-written file
    if in_progress:
        d = root / "fer2013" / "efficientnet_b2"
        atomic.write_json(d / "config.json", {"command": "fer face train --backbone efficientnet_b2"})
        atomic.write_json(d / "history.json", _history(2, 0.5, 0.4, 15))
    return out


INDEX_COLUMNS = ("name", "kind", "dataset", "folder", "accuracy", "macro_f1", "nll", "ece", "ece_perfect_p05",
                 "ece_perfect_p95", "epochs", "train_minutes", "recipe", "command", "shipped")


def index_row(root: Path, name: str, kind: str, folder: str, shipped: bool = False) -> dict[str, Any]:
    """An index.csv row as ``fer results index`` writes it, every number read from the run's own files
    (a cross-validation entry: its pooled, cross-fitted rows)."""
    if kind == "cv":
        cv = json.loads((root / folder / "cv.json").read_text())
        m = {**cv["pooled_cross_fitted_temperature"], "command": cv.get("command", ""), "dataset": folder.split("/")[0]}
    else:
        m = json.loads((root / folder / "metrics.json").read_text())
    floor = m.get("ece_of_perfect_calibration") or {}
    return {"name": name, "kind": kind, "dataset": m.get("dataset") or folder.split("/")[0], "folder": folder,
            "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "nll": m["nll"], "ece": m["ece"],
            "ece_perfect_p05": floor.get("p05", ""), "ece_perfect_p95": floor.get("p95", ""),
            "epochs": m.get("epochs", ""), "train_minutes": "", "recipe": m.get("recipe", ""),
            "command": m.get("command", ""), "shipped": "yes" if shipped else "no"}


def write_index(root: Path, rows: list[dict[str, Any]]) -> Path:
    path = root / "index.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


# What the published fixture tree publishes: (name, kind, folder, shipped). efficientnet_b0, the folds, the
# broken and the in-progress runs stay unpublished.
PUBLISHED = (
    ("MobileNetV2 (paper recipe)", "face", "fer2013/mobilenetv2_100", True),
    ("landmark MLP", "landmarks", "fer2013/landmarks", True),
    ("face + landmarks + EfficientNet", "fusion", "fer2013/ensemble", False),
    ("face + landmarks", "fusion", "fer2013/dual", True),
    ("speech CNN", "speech", "ravdess/audio", True),
    ("speech CNN, 2-fold CV", "cv", "ravdess/kfold2", False),
)


def build_published(root: Path, source: Path) -> dict[str, dict[str, Any]]:
    """A copy of the ``source`` tree with a second fusion (MobileNetV2 + landmarks, the real ``fer ensemble fuse``)
    and an index.csv publishing ``PUBLISHED``; returns the metrics.json dicts by run id."""
    from ensemble.fuse import FuseOptions, run_fuse

    shutil.copytree(source, root, dirs_exist_ok=True)
    run_fuse([root / "fer2013/mobilenetv2_100", root / "fer2013/landmarks"], method="logpool", out=root / "fer2013/dual",
             options=FuseOptions(), command="fer ensemble fuse (fixture)", name="fusion/pair", quiet=True)
    write_index(root, [index_row(root, *entry) for entry in PUBLISHED])
    return {d.parent.relative_to(root).as_posix(): json.loads(d.read_text()) for d in root.rglob("metrics.json")
            if d.parent.name != "broken"}


_SHARED: dict[str, tuple[Path, dict[str, dict[str, Any]]]] = {}


def shared_results(tmp_path_factory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """One read-only fixture tree per test run (tests that modify results copy it first)."""
    if "tree" not in _SHARED:
        root = tmp_path_factory.mktemp("dashboard-results")
        _SHARED["tree"] = (root, build_results(root))
    return _SHARED["tree"]


def shared_published(tmp_path_factory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """One read-only published tree per test run: ``shared_results`` plus ``build_published``."""
    if "published" not in _SHARED:
        source, _ = shared_results(tmp_path_factory)
        root = tmp_path_factory.mktemp("dashboard-published")
        _SHARED["published"] = (root, build_published(root, source))
    return _SHARED["published"]
