"""Score audio files with a trained run: ``AudioPredictor`` (the dashboard's try-it page) and
``fer audio predict``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from fer_core import artifact, zoo
from fer_core.artifact import Predictions
from fer_core.calibration import Calibrator
from fer_core.conformal import check_level, run_sets, set_labels
from fer_core.device import pick_device
from fer_core.errors import DataError, UserError
from fer_core.labels import FER7
from fer_audio.config import feature_config
from fer_audio.decode import SUPPORTED_SUFFIXES, decode_clip, to_mono_at
from fer_audio.features import extract
from fer_audio.inference import predict_logits
from fer_audio.labels import to_fer7_probs
from fer_audio.models import model_from_config
from fer_audio.run import load_run_config, load_run_model
from fer_audio.speech_activity import MIN_SPEECH_SHARE, shared_detector
from fer_audio.speech_activity import SAMPLE_RATE as SPEECH_RATE


BRANCH = "audio"


class AudioPredictor:
    """A trained audio run, ready to score clips.

    ``predict_file(path)`` returns ``{"probs": [...], "label_space": [...], "label", "confidence",
    "probs_fer7", "fer7", "present": True, "file", "speech_share"}``; probabilities are calibrated
    (``fer_core.calibration``). A clip in which the speech detector (``fer_audio.speech_activity``) finds too little
    speech (music, noise, a tone) is not scored: ``{"present": False, "error": "...: no speech found ..."}``.
    """

    def __init__(self, network: torch.nn.Module, cfg: dict[str, Any], *, name: str, label_space: Sequence[str],
                 calibrator: Calibrator, fingerprint: str, source: str, device: torch.device,
                 conformal: dict[str, Any] | None = None):
        self.model, self.cfg, self.name = network.to(device).eval(), cfg, name
        self.label_space, self.calibrator = tuple(label_space), calibrator
        self.fingerprint, self.source, self.device = fingerprint, source, device
        self.conformal = conformal  # prediction-set thresholds (fer_core.conformal.zoo_sets); None: none recorded
        self.features = feature_config(cfg)
        self.branch = f"{BRANCH}/{cfg['model']['name']}"

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> "AudioPredictor":
        run_dir = Path(run_dir)
        dev = pick_device(device)
        cfg = load_run_config(run_dir)["config"]
        which = cfg["eval"]["checkpoint"] if (run_dir / f"{cfg['eval']['checkpoint']}.pt").is_file() else "best"
        network, saved = load_run_model(run_dir, dev, which)
        metrics_path = run_dir / "metrics.json"
        if not metrics_path.is_file():
            raise UserError(f"{run_dir}: run is not evaluated (no metrics.json); run fer audio evaluate {run_dir}")
        metrics = json.loads(metrics_path.read_text())
        calibration_split = artifact.load_run(run_dir, metrics["calibration_split"])
        return cls(network, cfg, name=run_dir.name, label_space=saved["label_space"], calibrator=Calibrator.of_metrics(metrics),
                   fingerprint=calibration_split.fingerprint(),
                   source=str(run_dir), device=dev, conformal=run_sets(run_dir, metrics, calibration_split))

    @classmethod
    def from_zoo(cls, entry: zoo.ZooModel, weights: str | Path | None = None, device: str = "cpu",
                 manifest: zoo.Manifest | None = None) -> "AudioPredictor":
        path = zoo.model_file(manifest or zoo.load_manifest(), entry, weights)
        network = model_from_config(entry.config, len(entry.label_space))
        network.load_state_dict(zoo.read_tensors(path))
        return cls(network, entry.config, name=entry.name, label_space=entry.label_space,
                   calibrator=entry.calibrator, fingerprint=entry.fingerprint, source=str(path),
                   device=pick_device(device), conformal=entry.conformal)

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    def logits_for_waves(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        feats, counts = extract(list(waves), self.features, device=self.device)
        return predict_logits(self.model, feats, counts, frames=self.features.frames, crops=self.cfg["eval"]["crops"],
                              batch_size=self.cfg["eval"]["batch_size"], device=self.device)

    def _row(self, logits: np.ndarray, name: str) -> dict[str, Any]:
        probs = self.calibrator.probs(logits[None, :])[0]
        k = int(probs.argmax())
        return {
            "file": name, "present": True, "label_space": list(self.label_space), "probs": probs.tolist(),
            "logits": logits.tolist(), "label": self.label_space[k], "confidence": float(probs[k]),
            "fer7": list(FER7), "probs_fer7": to_fer7_probs(probs[None, :], self.label_space)[0].tolist(),
            "temperature": self.calibrator.temperature,
        }

    def predict_waveform(self, wave: np.ndarray, name: str = "<waveform>") -> dict[str, Any]:
        """A mono float waveform at ``self.sample_rate`` (already checked)."""
        return self._row(self.logits_for_waves([wave])[0], name)

    def predict_file(self, path: str | Path, strict: bool = True, speech_detection: bool = True) -> dict[str, Any]:
        """Calibrated probabilities of one clip; a bad clip raises DataError, or with ``strict=False``
        returns ``{"present": False, "error": ...}``; a clip without speech is never scored (``speech_detection``
        off: scored whatever it holds)."""
        return self.predict_files([path], strict=strict, speech_detection=speech_detection)[0]

    def predict_files(self, paths: Sequence[str | Path], strict: bool = True,
                      speech_detection: bool = True) -> list[dict[str, Any]]:
        waves, rows, shares = [], [], {}
        for i, p in enumerate(paths):
            try:
                wave = decode_clip(p, self.sample_rate)
            except DataError as e:
                if strict:
                    raise
                rows.append(self._absent(p, str(e)))
                continue
            if speech_detection:
                shares[i] = shared_detector().speech_share(to_mono_at(wave, self.sample_rate, SPEECH_RATE))
                if shares[i] < MIN_SPEECH_SHARE:
                    rows.append({**self._absent(p, f"{p}: no speech found ({shares[i]:.0%} of its 32 ms frames "
                                                   "hold speech: music, noise or a tone?); --no-speech-detection "
                                                   "scores it anyway"), "speech_share": shares[i]})
                    continue
            waves.append(wave)
            rows.append(None)
        if waves:
            logits = iter(self.logits_for_waves(waves))
            rows = [r if r is not None else {**self._row(next(logits), str(p)), "speech_share": shares.get(i)}
                    for i, (r, p) in enumerate(zip(rows, paths))]
        return rows

    def _absent(self, path: str | Path, why: str) -> dict[str, Any]:
        return {"file": str(path), "present": False, "error": why, "label_space": list(self.label_space)}


def _table(rows: list[dict[str, Any]], label_space: Sequence[str]) -> str:
    head = f"{'file':40s} {'label':>10s} {'conf':>6s}  " + " ".join(f"{n[:8]:>8s}" for n in label_space)
    lines = [head]
    for r in rows:
        name = r["file"] if len(r["file"]) <= 40 else "..." + r["file"][-37:]
        if not r["present"]:
            lines.append(f"{name:40s} {'no speech' if 'speech_share' in r else 'absent':>10s}  ({r['error']})")
        else:
            lines.append(f"{name:40s} {r['label']:>10s} {r['confidence']:6.1%}  "
                         + " ".join(f"{p:8.3f}" for p in r["probs"])
                         + ("" if "prediction_set" not in r else f"  {{{', '.join(r['prediction_set'])}}}"))
    return "\n".join(lines)


def list_models() -> list[str]:
    """Published speech models (``load_model(name)``)."""
    return zoo.load_manifest().names(BRANCH)


def load_model(name_or_run: str | Path | None = None, *, weights: str | Path | None = None,
               device: str = "cpu") -> AudioPredictor:
    """A published speech model by name (default: the shipped default), or a run directory you trained."""
    manifest = zoo.load_manifest()
    entry = manifest.named(BRANCH, name_or_run)
    if entry is not None:
        return AudioPredictor.from_zoo(entry, weights, device, manifest)
    return AudioPredictor.from_run(name_or_run, device)


def clip_files(inputs: list[Path]) -> list[Path]:
    """The clips named, and those found (recursively, sorted) in the folders named."""
    files: list[Path] = []
    for path in map(Path, inputs):
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES
                           and not f.name.startswith("."))
            if not found:
                print(f"warning: {path}: no audio files ({', '.join(sorted(SUPPORTED_SUFFIXES))})", file=sys.stderr)
            files.extend(found)
        else:
            files.append(path)
    return files


def predict_cli(args) -> int:
    if args.coverage is not None:
        check_level(args.coverage)
    files = clip_files(args.files)
    if not files:
        raise UserError("no audio files to score")
    predictor = load_model(args.model, weights=args.weights, device=args.device)
    if args.coverage is not None and predictor.conformal is None:
        raise UserError(f"speech model {predictor.name} records no prediction-set thresholds; publish it again "
                        "(fer models refresh) or pass its run directory")
    batch = args.artifact is not None
    rows = predictor.predict_files(files, strict=not batch,  # without --artifact: first bad clip -> error
                                   speech_detection=not args.no_speech_detection)
    if args.coverage is not None:
        for r in rows:
            if r["present"]:
                r["prediction_set"] = set_labels(dict(zip(r["label_space"], r["probs"])), predictor.conformal,
                                                 args.coverage)
    for r in rows:
        if not r["present"]:
            print(f"warning: {r['error']} (marked absent)", file=sys.stderr)
    if batch:
        present = np.asarray([r["present"] for r in rows])
        c = len(predictor.label_space)
        nan = [np.nan] * c
        Predictions(
            ids=[r["file"] for r in rows], labels=np.full(len(rows), -1), present=present,
            probs=[r["probs"] if r["present"] else nan for r in rows],
            logits=[r["logits"] if r["present"] else nan for r in rows], label_space=predictor.label_space,
            branch=predictor.branch, modality="audio", dataset="files", split="predict",
            temperature=predictor.calibrator.temperature, calibration=predictor.calibrator.artifact_field(),
            calibration_split="validation", fit_splits=["train", "validation"],
            command=args.command_line, extra={"model": predictor.name, "source": predictor.source},
        ).save(args.artifact)
        print(f"wrote {args.artifact} ({int(present.sum())} scored, {int((~present).sum())} absent)", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows, predictor.label_space))
    return 0
