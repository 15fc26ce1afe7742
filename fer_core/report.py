"""``metrics.json``: the report every run directory carries (face, landmarks, audio, fusion).

Top-level keys read by the dashboard and every comparison: ``split``, ``n``, ``accuracy``,
``macro_f1``, ``nll``, ``ece`` (calibrated), ``ece_uncalibrated``, ``temperature`` and ``calibration`` (what
follows it: ``fer_core.calibration.Calibrator.from_json``), ``command``.
"""

from __future__ import annotations

from typing import Any

from scipy.special import softmax

from fer_core import metrics
from fer_core.artifact import Predictions


def build_metrics(test: Predictions, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metrics of ``test`` (calibrated probs) and of its uncalibrated logits, on present, labelled rows."""
    keep = test.present & (test.labels >= 0)
    if not keep.any():
        raise ValueError(f"{test.branch}: no present, labelled samples in split {test.split!r} to evaluate")
    y = test.labels[keep]
    calibrated = metrics.summary(test.probs[keep], y, test.label_space)
    out: dict[str, Any] = {
        "split": test.split,
        "n": int(keep.sum()),
        "accuracy": calibrated["accuracy"],
        "macro_f1": calibrated["macro_f1"],
        "nll": calibrated["nll"],
        "ece": calibrated["ece"],
        "ece_uncalibrated": None,
        "temperature": float(test.temperature),
        "calibration": test.calibration or {"kind": "temperature"},
        "command": test.command,
        "brier": calibrated["brier"],
        "branch": test.branch,
        "modality": test.modality,
        "dataset": test.dataset,
        "label_space": list(test.label_space),
        "calibration_split": test.calibration_split,
        "n_total": int(test.n),
        "n_missing": int((~test.present).sum()),
        "per_class": calibrated["per_class"],
        "confusion_matrix": calibrated["confusion_matrix"],
        "reliability": calibrated["reliability"],
        "ece_of_perfect_calibration": metrics.ece_of_perfect_calibration(test.probs[keep]),
    }
    if test.logits is not None:
        raw = metrics.summary(softmax(test.logits[keep], axis=1), y, test.label_space)
        out["ece_uncalibrated"] = raw["ece"]
        out["uncalibrated"] = {k: raw[k] for k in ("accuracy", "macro_f1", "nll", "brier", "ece", "reliability")}
    if extra:
        out.update(extra)
    return out


def format_summary(m: dict[str, Any]) -> str:
    """One human line for the terminal."""
    unc = m.get("ece_uncalibrated")
    unc_txt = f" (uncalibrated {unc:.2%})" if unc is not None else ""
    floor = m.get("ece_of_perfect_calibration")
    floor_txt = f" [noise band of a perfectly calibrated model: {floor['p05']:.2%}-{floor['p95']:.2%}]" if floor else ""
    return (
        f"{m['branch']} on {m['split']} (n={m['n']}): accuracy {m['accuracy']:.2%}  macro-F1 {m['macro_f1']:.3f}  "
        f"NLL {m['nll']:.3f}  ECE {m['ece']:.2%}{unc_txt}{floor_txt}  T={m['temperature']:.3f}"
    )
