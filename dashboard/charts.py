"""Interactive Altair charts (hover tooltips, zoom, legend filters) built from the tables in ``dashboard.tables``."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd


def training_curves(history: pd.DataFrame, metric: str) -> alt.Chart:
    """Train (solid) vs validation (dashed) ``metric`` per epoch, one colour per run (paper Figure 6).

    Click a legend entry to highlight that run; drag to pan, scroll to zoom."""
    pick = alt.selection_point(fields=["run"], bind="legend")
    return (
        alt.Chart(history.dropna(subset=[metric]))
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=alt.X("epoch:Q", title="epoch"),
            y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False)),
            color=alt.Color("run:N", legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=400)),
            strokeDash=alt.StrokeDash("phase:N", sort=["train", "validation"],
                                      legend=alt.Legend(orient="bottom", direction="vertical")),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
            tooltip=["run:N", "phase:N", "epoch:Q", alt.Tooltip(f"{metric}:Q", format=".4f")],
        )
        .add_params(pick)
        # Streamlit fits the whole chart (legends included) into the height: leave room for one line per run
        .properties(title=metric, height=400 + 24 * history["run"].nunique())
        .interactive()
    )


def confusion_heatmap(cm: pd.DataFrame, title: str) -> alt.Chart:
    """Normalised confusion matrix (rows: true class, columns: predicted), values printed in the cells."""
    long = cm.stack(future_stack=True).rename("fraction").reset_index()
    base = alt.Chart(long).encode(
        x=alt.X("predicted:N", sort=list(cm.columns), title="predicted"),
        y=alt.Y("true:N", sort=list(cm.index), title="true"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("fraction:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="fraction"),
        tooltip=["true:N", "predicted:N", alt.Tooltip("fraction:Q", format=".1%")],
    )
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("fraction:Q", format=".0%"),
        color=alt.condition("datum.fraction > 0.5", alt.value("white"), alt.value("black")),
    )
    return (cells + text).properties(title=title, height=380)


def per_class_bars(per_class: pd.DataFrame) -> alt.Chart:
    long = per_class[["precision", "recall", "F1"]].reset_index().melt("class", var_name="metric", value_name="value")
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=list(per_class.index), title=None),
            xOffset="metric:N",
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
            color="metric:N",
            tooltip=["class:N", "metric:N", alt.Tooltip("value:Q", format=".1%")],
        )
        .properties(height=300)
    )


def reliability_diagram(metrics: dict[str, Any], title: str) -> alt.Chart:
    """Accuracy vs mean confidence per confidence bin, before and after calibration."""
    rows = []
    curves = [("calibrated", metrics.get("reliability"), metrics.get("ece"))]
    unc = metrics.get("uncalibrated") or {}
    if unc.get("reliability"):
        curves.insert(0, ("uncalibrated", unc["reliability"], unc.get("ece", metrics.get("ece_uncalibrated"))))
    for name, rel, ece in curves:
        if not isinstance(rel, dict):
            continue
        label = f"{name} (ECE {ece:.1%})" if isinstance(ece, (int, float)) else name
        for conf, acc, count in zip(rel.get("confidence", []), rel.get("accuracy", []), rel.get("count", [])):
            if conf is not None and acc is not None:  # empty bins are null
                rows.append({"curve": label, "confidence": conf, "accuracy": acc, "count": count})
    df = pd.DataFrame(rows, columns=["curve", "confidence", "accuracy", "count"])
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="gray").encode(x="x:Q", y="y:Q")
    unit = alt.Scale(domain=[0, 1])
    base = alt.Chart(df).encode(
        x=alt.X("confidence:Q", scale=unit, title="confidence"),
        y=alt.Y("accuracy:Q", scale=unit, title="accuracy"),
        color=alt.Color("curve:N", legend=alt.Legend(orient="bottom", columns=1, labelLimit=300), title=None,
                        sort="descending", scale=alt.Scale(range=["#e4572e", "#1f77b4"])),  # uncalibrated: orange
    )
    lines = base.mark_line(strokeWidth=1.5)
    points = base.mark_circle(opacity=0.85).encode(
        size=alt.Size("count:Q", legend=None, scale=alt.Scale(range=[15, 250])),
        tooltip=["curve:N", alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f"),
                 "count:Q"],
    )
    return (diagonal + lines + points).properties(title=title, height=340)


def weights_bars(weights: pd.DataFrame) -> alt.Chart:
    df = weights.dropna(subset=["weight"]).reset_index()
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("weight:Q", title="fusion weight"),
            y=alt.Y("branch:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
            color=alt.Color("modality:N"),
            tooltip=["branch:N", "modality:N", alt.Tooltip("weight:Q", format=".4f")],
        )
        .properties(height=max(80, 36 * len(df)))
    )


def probability_bars(probs: pd.DataFrame) -> alt.Chart:
    """Long frame (source, emotion, probability) -> grouped bars per emotion, one colour per source."""
    order = list(dict.fromkeys(probs["emotion"]))
    return (
        alt.Chart(probs)
        .mark_bar()
        .encode(
            x=alt.X("emotion:N", sort=order, title=None),
            xOffset="source:N",
            y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), title="probability"),
            color=alt.Color("source:N", legend=alt.Legend(orient="right", labelLimit=260), title=None),
            tooltip=["source:N", "emotion:N", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=300)
    )



KIND_COLOURS = {"face": "#4c78a8", "landmarks": "#72b7b2", "speech": "#f58518", "fusion": "#b279a2",
                "cv": "#9d755d", "paper": "#bab0ac"}
BEST_COLOUR = "#21c354"  # the tables' best-value green


def accuracy_bars(acc: pd.DataFrame, dataset_order: list[str]) -> alt.FacetChart:
    """``tables.accuracy_frame`` as horizontal bars, one panel per dataset, highest accuracy on top (ours and the
    paper's together); our best run per dataset outlined and labelled in green (paper bars are never marked)."""
    # Vega-Lite ignores an encoding sort inside a faceted layer: the rows go in data order (sort=None).
    df = acc.sort_values("accuracy", ascending=False, kind="stable")
    df = df.assign(label=[f"{a:.2%}" + (" best" if b else "") for a, b in zip(df["accuracy"], df["best"])])
    kinds = [k for k in KIND_COLOURS if k in set(df["kind"])] + sorted(set(df["kind"]) - set(KIND_COLOURS))
    base = alt.Chart().encode(
        y=alt.Y("name:N", sort=None, title=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="test accuracy"),
    )
    bars = base.mark_bar(strokeWidth=3).encode(
        color=alt.Color("kind:N", scale=alt.Scale(domain=kinds, range=[KIND_COLOURS.get(k, "#888888") for k in kinds]),
                        legend=alt.Legend(orient="bottom", title=None)),
        stroke=alt.condition("datum.best", alt.value(BEST_COLOUR), alt.value(None)),
        tooltip=["name:N", "kind:N", "source:N", alt.Tooltip("accuracy:Q", format=".2%"), "run:N"],
    )
    text = base.mark_text(align="left", dx=4).encode(
        text="label:N",
        color=alt.condition("datum.best", alt.value("#0e8a35"), alt.value("#444444")),
    )
    return (
        alt.layer(bars, text, data=df)
        .properties(width=460, height=alt.Step(22))
        .facet(row=alt.Row("dataset:N", sort=dataset_order, title=None,
                           header=alt.Header(labelAngle=0, labelOrient="top", labelAnchor="start",
                                             labelFontWeight="bold", labelFontSize=13)))
        .resolve_scale(y="independent")
    )


def video_timeline(timeline: pd.DataFrame, labels: list[str], duration: float) -> alt.Chart:
    """``live.timeline_frame``: fused probability of each emotion at the window centres over the video's
    ``duration`` (s), one panel per face track when there are several."""
    chart = (
        alt.Chart(timeline)
        .mark_line(point=alt.OverlayMarkDef(size=30))
        .encode(
            x=alt.X("time:Q", scale=alt.Scale(domain=[0, duration]), title="time (s), window centre"),
            y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), title="fused probability"),
            color=alt.Color("emotion:N", sort=labels, legend=alt.Legend(orient="right", title=None)),
            tooltip=["track:N", "emotion:N", alt.Tooltip("start:Q", format=".2f", title="window from (s)"),
                     alt.Tooltip("end:Q", format=".2f", title="to (s)"), alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=260)
    )
    if timeline["track"].nunique() > 1:
        return chart.facet(row=alt.Row("track:N", title=None))
    return chart.interactive()
