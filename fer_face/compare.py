"""``fer face compare``: the paper's Table 1 beside ours, from finished runs (training missing ones on request)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from fer_core import atomic
from fer_core.errors import UserError
from fer_face.config import training_config
from fer_face.models import get_backbone
from fer_face.train import train

COLUMNS = ["backbone", "paper_train_acc", "paper_test_acc", "train_acc", "test_acc", "test_macro_f1", "test_nll",
           "test_ece", "test_ece_uncalibrated", "temperature", "epochs", "prior_epochs", "recipe", "dataset", "command",
           "warm_start_command", "evaluate_command", "run"]


def collect_row(backbone: str, run_dir: Path) -> dict[str, Any]:
    spec = get_backbone(backbone)
    m = json.loads((run_dir / "metrics.json").read_text())
    return {
        "backbone": backbone,
        "paper_train_acc": spec.paper_train_acc,
        "paper_test_acc": spec.paper_test_acc,
        "train_acc": m.get("train_accuracy_clean", m.get("train_accuracy")),
        "test_acc": m["accuracy"],
        "test_macro_f1": m["macro_f1"],
        "test_nll": m["nll"],
        "test_ece": m["ece"],
        "test_ece_uncalibrated": m["ece_uncalibrated"],
        "temperature": m["temperature"],
        "epochs": m.get("epochs"),
        "prior_epochs": m.get("prior_epochs") or 0,
        "recipe": m.get("recipe"),
        "dataset": m.get("dataset"),
        "command": m["command"],
        "warm_start_command": m.get("warm_start_command"),
        "evaluate_command": m.get("evaluate_command"),
    }


def _pct(v: Any) -> str:
    return "" if v is None else f"{100 * v:.2f}"


def _epochs(row: dict[str, Any]) -> str:
    """``42+36`` for a warm restart of epoch-42 weights trained 36 more epochs."""
    return f"{row['prior_epochs']}+{row['epochs']}" if row.get("prior_epochs") else str(row["epochs"])


def to_markdown(rows: list[dict[str, Any]], split: str = "PrivateTest") -> str:
    lines = [
        f"| backbone | paper train acc | paper test acc | our train acc | our test acc ({split}) | macro-F1 | NLL | "
        "ECE calibrated | ECE uncalibrated | T | epochs | recipe |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backbone']} | {_pct(r['paper_train_acc'])} | {_pct(r['paper_test_acc'])} | {_pct(r['train_acc'])} | "
            f"**{_pct(r['test_acc'])}** | {r['test_macro_f1']:.3f} | {r['test_nll']:.3f} | {_pct(r['test_ece'])} | "
            f"{_pct(r['test_ece_uncalibrated'])} | {r['temperature']:.2f} | {_epochs(r)} | {r['recipe']} |"
        )
    lines.append("")
    lines.append("Accuracies in %. Our train accuracy is measured on clean (non-augmented) Training images with the "
                 "selected checkpoint. Commands:")
    for r in rows:
        lines.append(f"- {r['backbone']}" + (f" (`{r['run']}`)" if r.get("run") else "") + f": `{r['command']}`")
        if r.get("warm_start_command"):
            lines.append(f"  (warm restart of the run made by `{r['warm_start_command']}`)")
        if r.get("evaluate_command"):
            lines.append(f"  (evaluated with `{r['evaluate_command']}`)")
    if any(r["dataset"] == "synthetic" for r in rows):
        lines.insert(0, "**SYNTHETIC DATA - not comparable with the paper.**\n")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def finished_runs(root: Path, backbone: str, recipe: str | None) -> list[Path]:
    """Evaluated face runs under ``root`` (any folder name, any depth) trained with ``backbone`` and ``recipe``."""
    found = []
    for metrics_path in sorted(root.rglob("metrics.json")):
        config_path = metrics_path.parent / "config.json"
        if not config_path.is_file():
            continue
        cfg = json.loads(config_path.read_text()).get("config", {})
        if cfg.get("model", {}).get("backbone") == backbone and (recipe is None or cfg.get("recipe") == recipe):
            found.append(metrics_path.parent)
    return found


def chosen_run(runs: list[Path]) -> Path:
    """Of several finished runs, the one with the best PublicTest (validation) accuracy; never PrivateTest."""
    return max(runs, key=lambda r: json.loads((r / "metrics.json").read_text()).get("val_accuracy") or 0.0)


def compare(backbones: Sequence[str], *, runs: Path, recipe: str | None, out: Path | None = None,
            train_missing: bool = False, overrides: Sequence[str] = (), data: str | None = None, command: str = "",
            strict_size: bool = False, compile_model: bool = False) -> list[dict[str, Any]]:
    """One row per backbone from the finished run with that backbone and ``recipe`` anywhere under ``runs``;
    with ``train_missing`` a backbone without one is trained (``recipe`` + ``overrides``) into ``runs/<backbone>``."""
    if train_missing:  # every missing run's config is checked before the first one trains
        configs = {b: training_config(recipe, overrides, backbone=b) for b in backbones}
    rows = []
    for backbone in backbones:
        get_backbone(backbone)
        found = finished_runs(runs, backbone, recipe) if runs.is_dir() else []
        if found:
            run_dir = chosen_run(found)
        elif not train_missing:
            raise UserError(f"{runs}: no finished {backbone} run with recipe {recipe!r} (metrics.json); "
                            "train it or pass --train-missing")
        else:
            run_dir = runs / backbone
            print(f"training {backbone} with recipe {recipe} -> {run_dir}", file=sys.stderr)
            train(configs[backbone], data=data, out=run_dir, command=command, resume=(run_dir / "last.pt").is_file(),
                  strict_size=strict_size, compile_model=compile_model)
        print(f"{backbone}: {run_dir}", file=sys.stderr)
        rows.append({**collect_row(backbone, run_dir), "run": run_dir.as_posix()})
    out = out or runs
    atomic.write_text(out / "comparison.md", to_markdown(rows))
    atomic.write_text(out / "comparison.csv", to_csv(rows))
    atomic.write_json(out / "comparison.json", rows)
    print(to_markdown(rows))
    return rows
