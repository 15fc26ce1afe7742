"""Pandas tables the pages show, built from loaded runs (no Streamlit here, so they are unit-testable).

Values stay numeric fractions (accuracy 0.6470, not "64.70 %"); ``style`` formats and highlights them.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from dashboard.loader import PRIMARY_DATASET, Results, Run

# Overview columns: (header, metrics key or callable); which direction is best decides the highlight.
PAPER_TRAIN, PAPER_TEST = "paper train acc", "paper test acc"
TRAIN_ACC, TEST_ACC, MACRO_F1, NLL, ECE, ECE_UNCAL, TEMPERATURE = (
    "train acc", "test acc", "macro-F1", "NLL", "ECE", "ECE uncal.", "T")
MODALITY_ORDER = {"face": 0, "landmarks": 1, "audio": 2, "fusion": 9}
# Best-value highlights mark our runs only: the paper's columns are shown for reference, never ranked.
OVERVIEW_HIGHER = [TRAIN_ACC, TEST_ACC, MACRO_F1]
OVERVIEW_LOWER = [NLL, ECE, ECE_UNCAL]
PERCENT_COLUMNS = {PAPER_TRAIN, PAPER_TEST, TRAIN_ACC, TEST_ACC, ECE, ECE_UNCAL, "accuracy", "ECE after",
                   "ECE before", "ECE noise p95", "precision", "recall", "F1", "best val acc", "target coverage",
                   "coverage", "singletons", "singleton accuracy", "empty sets", "fit-split CV acc"}
NO_VALUE = "—"


def paper_accuracies(run: Run) -> tuple[float | None, float | None]:
    """The paper's Table 1 train/test accuracy for a face run's backbone (None elsewhere)."""
    paper = (run.metrics or {}).get("paper")
    if isinstance(paper, dict) and paper.get("test_accuracy") is not None:
        return paper.get("train_accuracy"), paper.get("test_accuracy")
    if run.modality != "face" or not run.backbone:
        return None, None
    try:
        from fer_face.models import get_backbone

        spec = get_backbone(run.backbone)
    except Exception:  # unknown backbone or face package unavailable: no paper reference
        return None, None
    return spec.paper_train_acc, spec.paper_test_acc


def paper_table() -> pd.DataFrame:
    """The paper's Table 1 (Kim, Yang & Choi): train and test accuracy per backbone."""
    from fer_face.models import get_backbone, list_backbones

    rows = []
    for name in list_backbones():
        spec = get_backbone(name)
        if spec.paper_test_acc is not None:
            rows.append({"backbone": name, PAPER_TRAIN: spec.paper_train_acc, PAPER_TEST: spec.paper_test_acc})
    return pd.DataFrame(rows).set_index("backbone")


GROUP_COLUMNS = (("train_acc", "train"), ("public_acc", "PublicTest"), ("private_acc", "PrivateTest"), ("ece", "ECE"))


def paper_protocol_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``paper-table.json`` flattened: the paper's train/test, then train / PublicTest / PrivateTest / ECE of our run
    of each recipe (columns named "recipe <recipe> <what>"; a backbone without a run of a recipe shows no values)."""
    recipes = {g: next((r[g]["recipe"] for r in rows if isinstance(r.get(g), dict)), g)
               for g in ("paper_protocol", "improved")}
    out = []
    for r in rows:
        paper = r.get("paper") or {}
        row: dict[str, Any] = {"backbone": r.get("backbone"), PAPER_TRAIN: paper.get("train_acc"),
                               PAPER_TEST: paper.get("test_acc")}
        for g, recipe in recipes.items():
            values = r.get(g) if isinstance(r.get(g), dict) else {}
            for key, label in GROUP_COLUMNS:
                row[f"recipe {recipe} {label}"] = values.get(key)
        out.append(row)
    return pd.DataFrame(out).set_index("backbone")


def paper_protocol_percent(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.rsplit(" ", 1)[-1] in {label for _, label in GROUP_COLUMNS}]


PAPER_NAMES = {"mobilenetv2_100": "MobileNetV2", "efficientnet_b0": "EfficientNet-B0",
               "efficientnet_b2": "EfficientNet-B2"}
OURS, PAPER = "ours", "paper"
KIND_OF_MODALITY = {"audio": "speech"}  # index.csv's kinds for metrics.json's modalities


def accuracy_frame(results: Results) -> pd.DataFrame:
    """Test accuracy of each published entry with a run on disk (every finished run when there is no index.csv)
    and, beside FER2013's, the paper's Table 1 test accuracies.

    Columns: dataset, name, kind (index.csv's, or ``paper``), source (``ours`` / ``paper``), accuracy, run, best
    (the highest of ours per dataset, ties included; never a paper row)."""
    rows = []
    if results.index is not None:
        rows = [{"dataset": e.dataset, "name": e.name, "kind": e.kind, "source": OURS,
                 "accuracy": results.test_accuracy(e), "run": e.folder}
                for e in results.index if results.get(e.folder) is not None]
    else:
        rows = [{"dataset": r.dataset, "name": r.id, "kind": KIND_OF_MODALITY.get(r.modality, r.modality),
                 "source": OURS, "accuracy": float(r.metrics["accuracy"]), "run": r.id} for r in results.finished]
    if any(r["dataset"] == PRIMARY_DATASET for r in rows):
        for backbone, paper in paper_table().iterrows():
            rows.append({"dataset": PRIMARY_DATASET, "name": f"paper: {PAPER_NAMES.get(backbone, backbone)}",
                         "kind": PAPER, "source": PAPER, "accuracy": float(paper[PAPER_TEST]), "run": None})
    df = pd.DataFrame(rows, columns=["dataset", "name", "kind", "source", "accuracy", "run"])
    ours = df["source"] == OURS
    top = df[ours].groupby("dataset")["accuracy"].transform("max")
    df["best"] = False
    df.loc[ours, "best"] = np.isclose(df.loc[ours, "accuracy"], top, rtol=0, atol=1e-12)
    return df


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan


def overview_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per finished run (branch or fusion), indexed by run id."""
    rows = []
    for r in runs:
        m = r.metrics or {}
        paper_train, paper_test = paper_accuracies(r)
        rows.append({
            "run": r.id,
            "modality": r.modality,
            "dataset": r.dataset,
            "recipe": r.recipe or NO_VALUE,
            "split": m.get("split"),
            "n": m.get("n"),
            PAPER_TRAIN: _num(paper_train),
            PAPER_TEST: _num(paper_test),
            TRAIN_ACC: _num(m.get("train_accuracy_clean", m.get("train_accuracy"))),
            TEST_ACC: _num(m.get("accuracy")),
            MACRO_F1: _num(m.get("macro_f1")),
            NLL: _num(m.get("nll")),
            ECE: _num(m.get("ece")),
            ECE_UNCAL: _num(m.get("ece_uncalibrated")),
            TEMPERATURE: _num(m.get("temperature")),
        })
    cols = ["run", "modality", "dataset", "recipe", "split", "n", PAPER_TRAIN, PAPER_TEST, TRAIN_ACC, TEST_ACC,
            MACRO_F1, NLL, ECE, ECE_UNCAL, TEMPERATURE]
    df = pd.DataFrame(rows, columns=cols)
    order = df["modality"].map(lambda m: MODALITY_ORDER.get(m, 5))
    return df.assign(_order=order).sort_values(["dataset", "_order", "run"]).drop(columns="_order").set_index("run")


def best_index(df: pd.DataFrame, higher: Sequence[str], lower: Sequence[str]) -> dict[str, list]:
    """Per column, the row labels holding the best value (all of them on ties; none for an all-NaN column)."""
    out: dict[str, list] = {}
    for cols, pick in ((higher, "max"), (lower, "min")):
        for c in cols:
            if c not in df.columns:
                continue
            s = pd.to_numeric(df[c], errors="coerce")
            if s.notna().any():
                best = getattr(s, pick)()
                out[c] = list(s.index[np.isclose(s, best, rtol=0, atol=1e-12) & s.notna()])
    return out


def style(df: pd.DataFrame, higher: Sequence[str] = (), lower: Sequence[str] = (), decimals: int = 3,
          percent: Iterable[str] = ()):
    """A Styler: percentages for accuracy-like columns (and ``percent``), best value per column in bold on green."""
    percent_columns = PERCENT_COLUMNS | set(percent)
    best = best_index(df, higher, lower) if len(df) > 1 else {}  # a lone row is trivially "best"

    def highlight(col: pd.Series) -> list[str]:
        winners = set(best.get(col.name, []))
        return ["font-weight: bold; background-color: rgba(33, 195, 84, 0.25)" if i in winners else ""
                for i in col.index]

    fmt: dict[str, Any] = {}
    for c in df.columns:
        if c in percent_columns:
            fmt[c] = lambda v: NO_VALUE if pd.isna(v) else f"{100 * v:.2f} %"
        elif pd.api.types.is_float_dtype(df[c]):
            fmt[c] = lambda v, d=decimals: NO_VALUE if pd.isna(v) else f"{v:.{d}f}"
    styler = df.style.format(fmt, na_rep=NO_VALUE)
    if best:
        styler = styler.apply(highlight, subset=list(best))
    return styler


def calibration_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """ECE/NLL/Brier before and after calibration (a temperature, maybe with a class bias or isotonic maps), one row per
    finished run."""
    rows = []
    for r in runs:
        m = r.metrics or {}
        unc = m.get("uncalibrated") or {}
        floor = m.get("ece_of_perfect_calibration") or {}
        rows.append({
            "run": r.id, "modality": r.modality, "dataset": r.dataset, "split": m.get("split"),
            TEMPERATURE: _num(m.get("temperature")), "calibration": (m.get("calibration") or {}).get("kind", "temperature"),
            "ECE before": _num(m.get("ece_uncalibrated")), "ECE after": _num(m.get("ece")),
            "ECE noise p95": _num(floor.get("p95")),
            "NLL before": _num(unc.get("nll")), "NLL after": _num(m.get("nll")),
            "Brier before": _num(unc.get("brier")), "Brier after": _num(m.get("brier")),
        })
    cols = ["run", "modality", "dataset", "split", TEMPERATURE, "calibration", "ECE before", "ECE after", "ECE noise p95",
            "NLL before", "NLL after",
            "Brier before", "Brier after"]
    return pd.DataFrame(rows, columns=cols).set_index("run")


def per_class_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    per_class = metrics.get("per_class") or {}
    rows = [{"class": name, "precision": _num(v.get("precision")), "recall": _num(v.get("recall")),
             "F1": _num(v.get("f1")), "support": v.get("support")} for name, v in per_class.items()]
    return pd.DataFrame(rows, columns=["class", "precision", "recall", "F1", "support"]).set_index("class")


def normalised_confusion(metrics: dict[str, Any], by: str = "true") -> pd.DataFrame:
    """Confusion matrix as fractions: rows sum to 1 (``by="true"``: recall) or columns do (``"predicted"``)."""
    names = list(metrics.get("label_space") or (metrics.get("per_class") or {}).keys())
    cm = np.asarray(metrics.get("confusion_matrix") or [], dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(names):
        raise ValueError(f"confusion matrix of shape {cm.shape} does not match the {len(names)} class names")
    axis = 1 if by == "true" else 0
    totals = cm.sum(axis=axis, keepdims=True)
    frac = np.divide(cm, totals, out=np.full_like(cm, np.nan), where=totals > 0)
    return pd.DataFrame(frac, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))


def history_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """Long format for curves: run, epoch, phase (train/validation), loss, accuracy."""
    rows = []
    for r in runs:
        for e in r.history or []:
            for phase, prefix in (("train", "train_"), ("validation", "val_")):
                rows.append({"run": r.id, "epoch": e.get("epoch"), "phase": phase,
                             "loss": _num(e.get(prefix + "loss")), "accuracy": _num(e.get(prefix + "acc"))})
    return pd.DataFrame(rows, columns=["run", "epoch", "phase", "loss", "accuracy"])


def training_summary(runs: Iterable[Run]) -> pd.DataFrame:
    rows = []
    for r in runs:
        h = r.history or []
        val = np.array([_num(e.get("val_acc")) for e in h])
        times = np.array([_num(e.get("epoch_time_s")) for e in h])
        speed = np.array([_num(e.get("train_images_per_s")) for e in h])
        best = int(np.nanargmax(val)) if np.isfinite(val).any() else None
        rows.append({
            "run": r.id, "status": "finished" if r.finished else "in progress", "epochs": len(h),
            "warm start (epochs)": (r.metrics or {}).get("prior_epochs") or 0,
            "best epoch": h[best]["epoch"] if best is not None else None,
            "best val acc": val[best] if best is not None else np.nan,
            "time (min)": float(np.nansum(times)) / 60 if np.isfinite(times).any() else np.nan,
            "images/s": float(np.nanmedian(speed)) if np.isfinite(speed).any() else np.nan,
        })
    return pd.DataFrame(rows, columns=["run", "status", "epochs", "warm start (epochs)", "best epoch", "best val acc",
                                       "time (min)", "images/s"]).set_index("run")


def ablation_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The ensemble's ablation rows (every subset of branches), best accuracy first."""
    out = []
    for r in rows:
        branches = r.get("branches") or []
        out.append({
            "branches": " + ".join(map(str, branches)) if isinstance(branches, list) else str(branches),
            "size": len(branches) if isinstance(branches, list) else np.nan,
            "method": r.get("method", NO_VALUE), "fit-split CV acc": _num(r.get("fit_cv_accuracy")),
            "accuracy": _num(r.get("accuracy")), MACRO_F1: _num(r.get("macro_f1")),
            NLL: _num(r.get("nll")), ECE: _num(r.get("ece")), "n": r.get("n"),
        })
    df = pd.DataFrame(out, columns=["branches", "size", "method", "fit-split CV acc", "accuracy", MACRO_F1, NLL, ECE,
                                    "n"])
    return df.sort_values(["accuracy", "size"], ascending=[False, True], na_position="last").reset_index(drop=True)


def comparison_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Each branch and the fused model on the same (joined) test samples."""
    out = [{"name": r.get("name", NO_VALUE), "modality": r.get("modality", NO_VALUE),
            "accuracy": _num(r.get("accuracy")), MACRO_F1: _num(r.get("macro_f1")), NLL: _num(r.get("nll")),
            ECE: _num(r.get("ece")), "n": r.get("n")} for r in rows]
    return pd.DataFrame(out, columns=["name", "modality", "accuracy", MACRO_F1, NLL, ECE, "n"]).set_index("name")


def fusion_weights_frame(fusion: dict[str, Any]) -> pd.DataFrame:
    """Branch, modality, source run and learned weight (NaN when the method has no per-branch weight)."""
    weights = fusion.get("weights") if isinstance(fusion.get("weights"), dict) else {}
    branches = fusion.get("branches") if isinstance(fusion.get("branches"), list) else []
    rows = []
    for b in branches:
        b = b if isinstance(b, dict) else {"name": str(b)}
        name = str(b.get("name", NO_VALUE))
        rows.append({"branch": name, "modality": b.get("modality", NO_VALUE), "run_dir": b.get("run_dir", NO_VALUE),
                     "weight": _num(weights.get(name))})
    for name, w in weights.items():  # weights for branches the list does not name
        if name not in {r["branch"] for r in rows}:
            rows.append({"branch": name, "modality": NO_VALUE, "run_dir": NO_VALUE, "weight": _num(w)})
    return pd.DataFrame(rows, columns=["branch", "modality", "run_dir", "weight"]).set_index("branch")


def conformal_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """Split-conformal prediction sets (``fer ensemble conformal``): coverage and set sizes per run."""
    rows = []
    for r in runs:
        c = r.conformal or {}
        rows.append({
            "run": r.id, "method": str(c.get("method", NO_VALUE)).upper(),
            "target coverage": _num(c.get("coverage_target")),
            "coverage": _num(c.get("coverage")), "mean set size": _num(c.get("mean_set_size")),
            "singletons": _num(c.get("singleton_rate")), "singleton accuracy": _num(c.get("singleton_accuracy")),
            "empty sets": _num(c.get("empty_set_rate")), "n": c.get("n_eval"),
        })
    cols = ["run", "method", "target coverage", "coverage", "mean set size", "singletons", "singleton accuracy",
            "empty sets", "n"]
    return pd.DataFrame(rows, columns=cols).set_index("run")


def _cv_row(label: str, actors: str, m: dict[str, Any]) -> dict[str, Any]:
    return {"rows": label, "test actors": actors, "n": m.get("n"), TEST_ACC: _num(m.get("accuracy")),
            MACRO_F1: _num(m.get("macro_f1")), NLL: _num(m.get("nll")), ECE: _num(m.get("ece")),
            ECE_UNCAL: _num(m.get("ece_uncalibrated"))}


def cv_frame(cv: dict[str, Any]) -> pd.DataFrame:
    """A cross-validation summary (``cv.json``): one row per fold, then the pooled rows (every clip once)."""
    rows = [_cv_row(f"fold {f.get('fold')}", ",".join(map(str, f.get("test_actors") or [])), f)
            for f in cv.get("per_fold") or [] if isinstance(f, dict)]
    rows += [_cv_row(label, "all", cv[key]) for label, key in (("pooled, each fold's own T", "pooled"),
                                                               ("pooled, cross-fitted T", "pooled_cross_fitted_temperature"))
             if isinstance(cv.get(key), dict)]
    return pd.DataFrame(rows).set_index("rows") if rows else pd.DataFrame()
