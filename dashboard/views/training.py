"""Training: per-epoch loss and accuracy, train vs validation, for the selected runs (the paper's Figure 6)."""

import streamlit as st

from dashboard import charts, guidance, state, tables
from dashboard.loader import MODEL_KINDS

results = state.current_results()
st.title("Training curves")
state.show_problems(results)

runs = results.with_history
if not runs:
    st.info(f"No training history under `{results.root}` (a run's `history.json` is written after every epoch "
            "by `fer face train`).")
    st.code(guidance.SMOKE_RUN, language="bash")
else:
    ids = [r.id for r in runs]
    best = [r.id for r in results.best_published(MODEL_KINDS, lambda r: bool(r.history))]
    preferred = best or [r.id for r in runs if r.modality == "face" and r.dataset != "synthetic"] or ids
    chosen = st.multiselect("Runs", ids, default=preferred[:4], key="training_runs",
                            format_func=state.run_label(results),
                            help="Opens on the best published model per dataset. Runs still training are included; "
                                 "their curves grow as epochs finish.")
    selected = [r for r in runs if r.id in chosen]
    if not selected:
        st.info("Select at least one run.")
    else:
        history = tables.history_frame(selected)
        left, right = st.columns(2)
        left.altair_chart(charts.training_curves(history, "loss"))
        right.altair_chart(charts.training_curves(history, "accuracy"))
        st.caption("Solid: train (augmented batches), dashed: validation (PublicTest for FER2013). Click a legend "
                   "entry to highlight a run; scroll to zoom, drag to pan, double-click to reset.")
        st.dataframe(tables.style(tables.training_summary(selected), ["best val acc", "images/s"], [],
                                  decimals=1), key="training_summary")
