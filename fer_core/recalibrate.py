"""``fer recalibrate RUN ... --calibration CHOICE``: another calibrator for an evaluated face or landmark run, from the
logits its artifacts already hold (no weights, no data, no network needed).

The calibrator is fit on the run's calibration split exactly as evaluation fits it (``fer_core.evaluate.calibrate``)
and every saved split is rewritten with it; metrics.json, the reliability diagram and the run's recorded
``eval.calibration`` follow, so evaluating the run again with its weights gives the same files. A fusion is
recalibrated by fitting it again (``fer ensemble fuse --calibration``), and a fusion fit on this run no longer
applies to it once its probabilities change (its fingerprint does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fer_core import atomic
from fer_core.artifact import Predictions, load_run, splits_in
from fer_core.errors import ArtifactError, UserError
from fer_core.evaluate import SplitLogits, calibrate, write_report
from fer_core.report import build_metrics


RECALIBRATED = ("face", "landmarks")  # the branches whose recipes record eval.calibration


def saved_splits(run_dir: Path) -> dict[str, Predictions]:
    if not (run_dir / "predictions").is_dir():
        raise UserError(f"{run_dir}: no predictions/ folder; evaluate the run first")
    return {split: load_run(run_dir, split) for split in splits_in(run_dir)}


def recalibrate_run(run_dir: str | Path, choice: str) -> dict[str, Any]:
    """Rewrite ``run_dir``'s artifacts, metrics.json and reliability diagram with the ``choice`` calibrator."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").is_file():
        raise UserError(f"{run_dir}: no metrics.json; evaluate the run first")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    arts = saved_splits(run_dir)
    cal_split, test_split = metrics.get("calibration_split"), metrics.get("split")
    for split in (cal_split, test_split):
        if split not in arts:
            raise UserError(f"{run_dir}: no predictions/{split}.json; evaluate the run first")
    modality = arts[cal_split].modality
    if modality == "fusion":
        raise UserError(f"{run_dir}: a fusion; fit it again with 'fer ensemble fuse ... --calibration {choice}'")
    if modality not in RECALIBRATED:
        raise UserError(f"{run_dir}: its branch is {modality}, whose recipes have no eval.calibration (face and landmark "
                        f"runs do)")
    missing = [s for s, a in arts.items() if a.logits is None]
    if missing:
        raise ArtifactError(f"{run_dir}: predictions/{missing[0]}.json has no logits; re-evaluate the run with its weights")
    cal = arts[cal_split]
    producer = {"label_space": cal.label_space, "branch": cal.branch, "modality": cal.modality, "dataset": cal.dataset,
                "fit_splits": cal.fit_splits, "command": cal.command}
    splits = {s: SplitLogits(a.ids, a.labels, a.logits, a.present) for s, a in arts.items()}
    new = calibrate(run_dir, splits, calibration_split=cal_split, write=list(arts), calibration=choice,
                    extra=lambda split: arts[split].extra, **producer)
    report = {**metrics, **build_metrics(new[test_split])}
    if "val_accuracy" in metrics or "val_ece" in metrics:
        public = build_metrics(new[cal_split])
        report.update({k: public[k[4:]] for k in ("val_accuracy", "val_ece") if k in metrics})
    config_path = run_dir / "config.json"
    if config_path.is_file():
        saved = json.loads(config_path.read_text())
        if isinstance(saved.get("config", {}).get("eval"), dict):
            saved["config"]["eval"]["calibration"] = choice
            atomic.write_json(config_path, saved)
    return write_report(run_dir, report, command=metrics["command"], quiet=True)
