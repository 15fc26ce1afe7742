"""``fer face compare``: the paper's Table 1 beside ours, from finished runs (training missing ones on request).

With ``improved_runs`` it also writes the three-group table (``paper-table.{md,csv,json}``): the paper's train/test
accuracy, our run of the recipe asked for (normally ``paper``, the paper's protocol) and our run of the improved
recipe, each with train, PublicTest and PrivateTest accuracy and PrivateTest ECE; and ``paper-figure6.png``, the
paper's Figure 6 (training loss per epoch) redrawn for both.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from fer_core import atomic
from fer_core.errors import UserError
from fer_core.zoo import as_user_command
from fer_face.config import training_config
from fer_face.models import get_backbone
from fer_face.paper_figure import FIGURE_FILE, plot_loss_curves, read_history
from fer_face.train import train

TABLE_STEM = "paper-table"

COLUMNS = ["backbone", "paper_train_acc", "paper_test_acc", "train_acc", "val_acc", "test_acc", "test_macro_f1",
           "test_nll", "test_ece", "test_ece_uncalibrated", "test_ece_band_p05", "test_ece_band_p95", "temperature",
           "epochs", "prior_epochs", "recipe", "dataset", "command", "warm_start_command", "evaluate_command", "run"]


def collect_row(backbone: str, run_dir: Path) -> dict[str, Any]:
    spec = get_backbone(backbone)
    m = json.loads((run_dir / "metrics.json").read_text())
    return {
        "backbone": backbone,
        "paper_train_acc": spec.paper_train_acc,
        "paper_test_acc": spec.paper_test_acc,
        "train_acc": m.get("train_accuracy_clean", m.get("train_accuracy")),
        "test_acc": m["accuracy"],
        "val_acc": m.get("val_accuracy"),
        "test_macro_f1": m["macro_f1"],
        "test_nll": m["nll"],
        "test_ece": m["ece"],
        "test_ece_uncalibrated": m["ece_uncalibrated"],
        "test_ece_band_p05": (m.get("ece_of_perfect_calibration") or {}).get("p05"),
        "test_ece_band_p95": (m.get("ece_of_perfect_calibration") or {}).get("p95"),
        "temperature": m["temperature"],
        "epochs": m.get("epochs"),
        "prior_epochs": m.get("prior_epochs") or 0,
        "recipe": m.get("recipe"),
        "dataset": m.get("dataset"),
        "command": as_user_command(m["command"]),
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


def group(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """One of our column groups of the three-group table, from a ``collect_row`` row (None: no run)."""
    if row is None:
        return None
    return {"train_acc": row["train_acc"], "public_acc": row["val_acc"], "private_acc": row["test_acc"],
            "ece": row["test_ece"], "ece_band": [row["test_ece_band_p05"], row["test_ece_band_p95"]],
            "epochs": row["epochs"], "recipe": row["recipe"], "run": row.get("run"), "command": row["command"]}


def three_groups(protocol: list[dict[str, Any]], improved: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Per backbone: the paper's Table 1, our run of ``protocol``'s recipe, our run of the improved recipe."""
    return [{"backbone": r["backbone"], "paper": {"train_acc": r["paper_train_acc"], "test_acc": r["paper_test_acc"]},
             "paper_protocol": group(r), "improved": group(improved.get(r["backbone"]))} for r in protocol]


GROUP_COLUMNS = ("train_acc", "public_acc", "private_acc", "ece")
GROUP_CSV_FIELDS = (*GROUP_COLUMNS, "epochs", "recipe", "run")


def three_groups_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    ours = [f"{g}_{c}" for g in ("paper_protocol", "improved") for c in GROUP_CSV_FIELDS]
    w.writerow(["backbone", "paper_train_acc", "paper_test_acc", *ours])
    for r in rows:
        cells = [r["backbone"], r["paper"]["train_acc"], r["paper"]["test_acc"]]
        for g in ("paper_protocol", "improved"):
            cells += [None if r[g] is None else r[g][c] for c in GROUP_CSV_FIELDS]
        w.writerow(["" if c is None else c for c in cells])
    return buf.getvalue()


def three_groups_markdown(rows: list[dict[str, Any]]) -> str:
    def cells(g: dict[str, Any] | None) -> str:
        if g is None:
            return " | ".join(["no run"] + [""] * 3)
        band = "" if None in g["ece_band"] else f" ({_pct(g['ece_band'][0])}-{_pct(g['ece_band'][1])})"
        return f"{_pct(g['train_acc'])} | {_pct(g['public_acc'])} | **{_pct(g['private_acc'])}** | {_pct(g['ece'])}{band}"

    protocol_recipe = next((r["paper_protocol"]["recipe"] for r in rows if r["paper_protocol"]), "paper")
    improved_recipe = next((r["improved"]["recipe"] for r in rows if r["improved"]), "improved")
    lines = [
        f"| backbone | paper's Table 1: train | test | recipe {protocol_recipe}: train | PublicTest | PrivateTest | "
        f"ECE (band) | recipe {improved_recipe}: train | PublicTest | PrivateTest | ECE (band) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['backbone']} | {_pct(r['paper']['train_acc'])} | {_pct(r['paper']['test_acc'])} | "
                     f"{cells(r['paper_protocol'])} | {cells(r['improved'])} |")
    lines += ["", "Accuracies and ECE in %. The paper reports one test accuracy (its split is not named); ours choose "
              "checkpoints and calibrators on PublicTest and report PrivateTest. Train accuracy: clean Training "
              "images, selected checkpoint. ECE band: what a perfectly calibrated model would show at this n (5-95 %). "
              "Commands:"]
    for r in rows:
        for g in ("paper_protocol", "improved"):
            if r[g]:
                lines.append(f"- {r['backbone']}, {r[g]['recipe']} (`{r[g]['run']}`): `{r[g]['command']}`")
    return "\n".join(lines) + "\n"


def write_paper_table(protocol: list[dict[str, Any]], improved: dict[str, dict[str, Any] | None], out: Path) -> None:
    """``paper-table.{md,csv,json}`` and ``paper-figure6.png`` (training loss per epoch, one panel per recipe)."""
    rows = three_groups(protocol, improved)
    atomic.write_text(out / f"{TABLE_STEM}.md", three_groups_markdown(rows))
    atomic.write_text(out / f"{TABLE_STEM}.csv", three_groups_csv(rows))
    atomic.write_json(out / f"{TABLE_STEM}.json", rows)
    panels: dict[str, dict[str, list[dict]]] = {}
    for g in ("paper_protocol", "improved"):
        runs = {r["backbone"]: r[g] for r in rows if r[g]}
        if runs:
            recipe = next(iter(runs.values()))["recipe"]
            panels[f"recipe {recipe}"] = {b: read_history(Path(v["run"])) for b, v in runs.items()}
    plot_loss_curves(panels, out / FIGURE_FILE)


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


def started_hint(run_dir: Path) -> str:
    """How to get ``run_dir`` finished: resume it when it was started (``last.pt``), else train it."""
    history = run_dir / "history.json"
    if not (run_dir / "last.pt").is_file() or not history.is_file():
        return "train it or pass --train-missing"
    done = len(json.loads(history.read_text(encoding="utf-8")))
    epochs = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["config"]["train"]["epochs"]
    return f"{run_dir} stopped after epoch {done} of {epochs}; pass --train-missing to resume it"


def compare(backbones: Sequence[str], *, runs: Path, recipe: str | None, out: Path | None = None,
            train_missing: bool = False, overrides: Sequence[str] = (), data: str | None = None, command: str = "",
            strict_size: bool = False, compile_model: bool = False, improved_runs: Path | None = None,
            improved_recipe: str = "improved") -> list[dict[str, Any]]:
    """One row per backbone from the finished run with that backbone and ``recipe`` anywhere under ``runs``;
    with ``train_missing`` a backbone without one is trained (``recipe`` + ``overrides``) into ``runs/<backbone>``.
    With ``improved_runs``, the three-group table and Figure 6 beside the runs of ``improved_recipe`` found there
    (a backbone without one shows "no run")."""
    if improved_runs is not None and not improved_runs.is_dir():
        raise UserError(f"--improved-runs {improved_runs}: no such folder")
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
                            + started_hint(runs / backbone))
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
    if improved_runs is not None:
        improved = {}
        for backbone in backbones:
            found = finished_runs(improved_runs, backbone, improved_recipe)
            run_dir = chosen_run(found) if found else None
            improved[backbone] = None if run_dir is None else {**collect_row(backbone, run_dir), "run": run_dir.as_posix()}
        write_paper_table(rows, improved, out)
        print((out / f"{TABLE_STEM}.md").read_text())
        print(f"wrote {out / TABLE_STEM}.{{md,csv,json}} and {out / FIGURE_FILE}", file=sys.stderr)
    return rows
