"""Calibration: ECE / NLL / Brier before and after calibration, and reliability diagrams."""

import streamlit as st

from dashboard import charts, state, tables
from dashboard.loader import MODEL_KINDS

results = state.current_results()
st.title("Calibration")
state.show_problems(results)

if state.require_finished(results):
    frame = tables.calibration_frame(results.finished)
    lower = ["ECE before", "ECE after", "NLL before", "NLL after", "Brier before", "Brier after"]
    for dataset, part in frame.groupby("dataset", sort=True):
        st.subheader(dataset)
        st.dataframe(tables.style(part.drop(columns=["dataset"]), [], lower), placeholder=tables.NO_VALUE,
                     key=f"calibration_{dataset}")
    st.caption("Calibration is fit on the calibration split (FER2013: PublicTest): a temperature T divides the "
               "logits (fit by NLL; accuracy unchanged), and where *calibration* says so a class bias or isotonic "
               "maps follow it; *before*: softmax of the raw logits. "
               "ECE: top-label, 15 equal-width confidence bins, on the test split. Lower is better. "
               "*ECE noise p95*: the ECE a perfectly calibrated model with the same probabilities would stay "
               "under 95 % of the time at this sample size; an ECE below it cannot be told from perfect calibration.")

    ids = list(frame.index)
    best = results.best_published(["fusion"], lambda r: r.finished) + results.best_published(
        MODEL_KINDS, lambda r: r.finished)
    if best:  # the best published fusion and model per dataset
        default = [r.id for r in best][:4]
    else:
        fused = [r.id for r in results.finished if r.modality == "fusion"]
        default = (fused + [i for i in ids if i not in fused])[:4]
    st.subheader("Reliability diagrams")
    chosen = st.multiselect("Runs", ids, default=default, key="calibration_runs", format_func=state.run_label(results))
    columns = st.columns(2)
    for i, rid in enumerate(chosen):
        run = results.get(rid)
        columns[i % 2].altair_chart(charts.reliability_diagram(run.metrics, f"{rid} ({run.metrics['split']})"))
    if chosen:
        st.caption("Points: mean confidence vs accuracy per confidence bin (size: samples in the bin); "
                   "the dashed diagonal is perfect calibration.")
