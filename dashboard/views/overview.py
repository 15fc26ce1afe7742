"""Overview: every finished run's test metrics beside the paper's Table 1, best value per column highlighted."""

import streamlit as st

from dashboard import state, tables

results = state.current_results()
st.title("Overview")
st.caption(f"Results root: `{results.root}` - test split metrics (FER2013: PrivateTest) of every branch and "
           "fusion run.")
state.show_problems(results)

if state.require_finished(results):
    frame = tables.overview_frame(results.finished)
    datasets = sorted(frame["dataset"].unique())
    recipes = sorted(frame["recipe"].unique())
    left, right = st.columns(2)
    chosen_datasets = left.multiselect("Dataset", datasets, default=datasets, key="overview_datasets")
    chosen_recipes = right.multiselect("Recipe", recipes, default=recipes, key="overview_recipes",
                                       help=f"{tables.NO_VALUE}: runs without a recipe (landmarks, audio, fusion)")
    shown = frame[frame["dataset"].isin(chosen_datasets) & frame["recipe"].isin(chosen_recipes)]
    if shown.empty:
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
               "*paper* columns: Kim, Yang & Choi, Table 1. *train acc*: clean Training images with the selected "
               "checkpoint. ECE: 15 equal-width bins, after temperature scaling on the calibration split "
               "(*ECE uncal.*: before). T: the fitted temperature.")
    for run in (r for r in results.with_cv if r.dataset in chosen_datasets):
        frame = tables.cv_frame(run.cv)
        if frame.empty:
            continue
        st.subheader(f"{run.id} · {run.cv.get('folds', '?')}-fold cross-validation by actor")
        st.dataframe(tables.style(frame, [tables.TEST_ACC, tables.MACRO_F1], [tables.NLL, tables.ECE, tables.ECE_UNCAL]),
                     placeholder=tables.NO_VALUE, key=f"cv_{run.id}")
        st.caption("Pooled rows score every clip once, so their ECE is far less noisy than one fold's. Cross-fitted T: "
                   "each fold's temperature is fit on the other folds' out-of-fold predictions (docs/audio.md).")
    with st.expander("The paper's Table 1 (Kim, Yang & Choi)"):
        st.dataframe(tables.style(tables.paper_table(), [tables.PAPER_TRAIN, tables.PAPER_TEST]),
                     placeholder=tables.NO_VALUE, key="paper_table")
    if results.in_progress:
        st.caption("In progress (no metrics.json yet): " + ", ".join(f"`{r.id}`" for r in results.in_progress))
