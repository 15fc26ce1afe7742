"""Result tables written as JSON + CSV + Markdown with one set of rows (comparison, ablation)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fer_core import atomic, metrics

METRIC_COLUMNS = ("accuracy", "macro_f1", "nll", "ece", "n")


def score_row(probs: np.ndarray, labels: np.ndarray, keep: np.ndarray, label_space: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro_f1, nll, ece, n of ``probs`` on the rows in ``keep`` (present and labelled)."""
    keep = keep & (labels >= 0)
    if not keep.any():
        return {"accuracy": None, "macro_f1": None, "nll": None, "ece": None, "n": 0}
    s = metrics.summary(probs[keep], labels[keep], label_space)
    return {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"], "nll": s["nll"], "ece": s["ece"], "n": int(keep.sum())}


def _cell(value: Any, column: str, markdown: bool) -> str:
    if value is None:
        return "-" if markdown else ""
    if isinstance(value, (list, tuple)):
        return (" + " if markdown else ";").join(map(str, value))
    if isinstance(value, float):
        if markdown and column in ("accuracy", "ece", "fit_cv_accuracy"):
            return f"{value:.2%}"
        return f"{value:.4f}" if markdown else f"{value:.6g}"
    return str(value)


def to_csv(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c), c, markdown=False) for c in columns])
    return buf.getvalue()


def to_markdown(rows: list[dict[str, Any]], columns: Sequence[str], title: str = "", notes: Sequence[str] = ()) -> str:
    lines = [f"# {title}", ""] if title else []
    lines += ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(c), c, markdown=True) for c in columns) + " |" for r in rows]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_table(out: str | Path, stem: str, rows: list[dict[str, Any]], columns: Sequence[str], *,
                title: str, meta: dict[str, Any], notes: Sequence[str] = ()) -> None:
    """``<stem>.json`` ({"rows": [...], **meta}), ``<stem>.csv`` and ``<stem>.md`` in ``out``."""
    out = Path(out)
    atomic.write_json(out / f"{stem}.json", {"rows": rows, **meta})
    atomic.write_text(out / f"{stem}.csv", to_csv(rows, columns))
    atomic.write_text(out / f"{stem}.md", to_markdown(rows, columns, title, notes))
