"""Per class: normalised confusion matrix and per-class precision / recall / F1 for any branch or the fusion."""

import streamlit as st

from dashboard import charts, state, tables
from dashboard.loader import MODEL_KINDS
from fer_core.artifact import artifact_path
from fer_core.errors import ArtifactError

results = state.current_results()
st.title("Per class")
state.show_problems(results)

if state.require_finished(results):
    runs = {r.id: r for r in results.finished}
    best = results.best_published(MODEL_KINDS, lambda r: r.finished)
    left, mid, right = st.columns([3, 2, 2])
    run_id = left.selectbox("Run", list(runs), index=list(runs).index(best[0].id) if best else 0, key="per_class_run",
                            format_func=state.run_label(results),
                            help="Opens on the published model with the highest test accuracy (FER2013 first).")
    run = runs[run_id]
    splits = [run.metrics["split"]] + [s for s in run.prediction_splits if s != run.metrics["split"]]
    split = mid.selectbox("Split", splits, key="per_class_split",
                          help="The reported test split from metrics.json; other splits are computed from their "
                               "predictions artifact.")
    by = right.radio("Normalise", ["true", "predicted"], horizontal=True, key="per_class_norm",
                     format_func={"true": "rows (recall)", "predicted": "columns (precision)"}.get)
    metrics = run.metrics
    if split != run.metrics["split"]:
        path = artifact_path(run.path, split)
        try:
            metrics = state.cached_split_metrics(str(run.path), split, state.file_stamp(path))
        except ArtifactError as e:
            st.error(f"Cannot compute metrics for {split}: {e}")
            metrics = None
    if metrics is not None:
        st.caption(f"{metrics.get('branch', run_id)} on {split}: n = {metrics['n']}, accuracy "
                   f"{metrics['accuracy']:.2%}, macro-F1 {metrics['macro_f1']:.3f}")
        per_class = tables.per_class_frame(metrics)
        c1, c2 = st.columns([3, 2])
        try:
            cm = tables.normalised_confusion(metrics, by)
            c1.altair_chart(charts.confusion_heatmap(cm, f"confusion matrix, normalised by {by} class"))
        except ValueError as e:
            c1.warning(f"Confusion matrix not shown: {e}")
        c2.dataframe(tables.style(per_class), placeholder=tables.NO_VALUE,
                     key="per_class_table")
        c2.altair_chart(charts.per_class_bars(per_class))

    st.subheader("Recall per class across runs")
    same_space = [r.id for r in runs.values() if r.metrics.get("label_space") == run.metrics.get("label_space")]
    published = sorted((runs[i] for i in same_space if results.entry(i)), key=lambda r: -r.metrics["accuracy"])
    compare = st.multiselect("Runs to compare (same label space)", same_space,
                             default=[r.id for r in published][:6] or same_space[:6], key="per_class_compare",
                             format_func=state.run_label(results))
    if compare:
        import pandas as pd

        recall = pd.DataFrame({rid: tables.per_class_frame(runs[rid].metrics)["recall"] for rid in compare}).T
        recall.index.name = "run"
        st.dataframe(tables.style(recall, list(recall.columns), percent=recall.columns), placeholder=tables.NO_VALUE, key="recall_table")
        st.caption("Best run per class highlighted (recall on the reported test split).")
