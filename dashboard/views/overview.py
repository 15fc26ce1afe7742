"""Overview: the published runs' test accuracy beside the paper's, then their test metrics per dataset (best value
per column highlighted); runs that are not in index.csv behind a filter."""

import streamlit as st

from dashboard import charts, state, tables
from dashboard.loader import INDEX_FILE, PRIMARY_DATASET

results = state.current_results()
st.title("Overview")
which = "published branch and fusion run (index.csv)" if results.index is not None else "branch and fusion run"
st.caption(f"Results root: `{results.root}` - test split metrics (FER2013: PrivateTest) of every {which}.")
state.show_problems(results)

if state.require_finished(results):
    if results.index is None:
        st.caption(f"No `{INDEX_FILE}` in `{results.root}` (written by `fer results index`): every run is listed.")
    accuracy = tables.accuracy_frame(results)
    if not accuracy.empty:
        order = sorted(accuracy["dataset"].unique(), key=lambda d: (d != PRIMARY_DATASET, d))
        st.altair_chart(charts.accuracy_bars(accuracy, order), key="overview_accuracy")
        what = "published model and fusion" if results.index is not None else "finished run"
        st.caption(f"Test accuracy (FER2013: PrivateTest) of each {what}; grey: the paper's Table 1 (Kim, Yang & "
                   "Choi). Outlined in green: our best per dataset.")
    unpublished = results.index is not None and st.checkbox(
        "Show unpublished runs", key="overview_unpublished",
        help=f"Runs under the results root that {INDEX_FILE} does not list (experiments, folds, superseded runs).")
    listed = results.listed(results.finished, unpublished)
    frame = tables.overview_frame(listed)
    if results.index is not None:
        frame.insert(0, "published as", [getattr(results.entry(rid), "name", tables.NO_VALUE) for rid in frame.index])
    datasets = sorted(frame["dataset"].unique())
    recipes = sorted(frame["recipe"].unique())
    left, right = st.columns(2)
    # One pair of filters per listing: a filter set on the published runs must not hide the unpublished ones.
    more = "_all" if unpublished else ""
    chosen_datasets = left.multiselect("Dataset", datasets, default=datasets, key=f"overview_datasets{more}")
    chosen_recipes = right.multiselect("Recipe", recipes, default=recipes, key=f"overview_recipes{more}",
                                       help=f"{tables.NO_VALUE}: runs without a recipe (landmarks, audio, fusion)")
    shown = frame[frame["dataset"].isin(chosen_datasets) & frame["recipe"].isin(chosen_recipes)]
    if not listed:
        st.info(f"No run that {INDEX_FILE} lists has finished here; tick *Show unpublished runs* to see the others.")
    elif shown.empty:
        st.info("No run matches the filters.")
    for dataset in chosen_datasets:
        part = shown[shown["dataset"] == dataset].drop(columns=["dataset"])
        if part.empty:
            continue
        part = part.dropna(axis=1, how="all")  # e.g. no paper columns for speech datasets
        if (part["recipe"] == tables.NO_VALUE).all():
            part = part.drop(columns=["recipe"])
        splits = sorted(part["split"].dropna().unique())
        if len(splits) == 1:
            part = part.drop(columns=["split"])
        st.subheader(dataset + (f" · {splits[0]}" if len(splits) == 1 else ""))
        if dataset == "synthetic":
            st.warning("Synthetic smoke-test data: these numbers say nothing about FER2013 and are not comparable "
                       "with the paper.")
        st.dataframe(tables.style(part, tables.OVERVIEW_HIGHER, tables.OVERVIEW_LOWER), placeholder=tables.NO_VALUE,
                     key=f"overview_{dataset}")
    st.caption("Best value per column in bold on green (highest accuracy / macro-F1, lowest NLL / ECE). "
               "*paper* columns: Kim, Yang & Choi, Table 1, for reference (not ranked). *train acc*: clean Training "
               "images with the selected checkpoint. ECE: 15 equal-width bins, after the calibrator fit on the "
               "calibration split (*ECE uncal.*: before). T: the fitted temperature.")
    for run in (r for r in results.listed(results.with_cv, unpublished) if r.dataset in chosen_datasets):
        frame = tables.cv_frame(run.cv)
        if frame.empty:
            continue
        st.subheader(f"{run.id} · {run.cv.get('folds', '?')}-fold cross-validation by actor")
        st.dataframe(tables.style(frame, [tables.TEST_ACC, tables.MACRO_F1], [tables.NLL, tables.ECE, tables.ECE_UNCAL]),
                     placeholder=tables.NO_VALUE, key=f"cv_{run.id}")
        st.caption("Pooled rows score every clip once, so their ECE is far less noisy than one fold's. Cross-fitted T: "
                   "each fold's temperature is fit on the other folds' out-of-fold predictions (docs/audio.md).")
    for run in results.with_paper_table:
        st.subheader(f"The paper's protocol beside the improved recipe · `{run.id}`")
        frame = tables.paper_protocol_frame(run.paper_table)
        st.dataframe(tables.style(frame, percent=tables.paper_protocol_percent(frame)), placeholder=tables.NO_VALUE,
                     key=f"paper_protocol_{run.id}")
        st.caption("Accuracy and ECE: *paper*: Kim, Yang & Choi, Table 1 (one test split). Ours: checkpoint and "
                   "calibrator chosen on PublicTest, PrivateTest reported. Written by `fer face compare "
                   "--improved-runs` (paper-table.md lists the commands).")
        if run.paper_figure is not None:
            st.image(str(run.paper_figure), caption="The paper's Figure 6 redrawn: training loss per epoch of each "
                     "backbone, one panel per recipe.")
    with st.expander("The paper's Table 1 (Kim, Yang & Choi)"):
        st.dataframe(tables.style(tables.paper_table()), placeholder=tables.NO_VALUE, key="paper_table")
    if results.in_progress and (unpublished or results.index is None):
        st.caption("In progress (no metrics.json yet): " + ", ".join(f"`{r.id}`" for r in results.in_progress))
