"""Ensemble: fusion weights, each branch vs the fused model, the ablation over every subset of branches,
and conformal prediction sets."""

import streamlit as st

from dashboard import charts, guidance, state, tables

results = state.current_results()
st.title("Ensemble")
state.show_problems(results)

ensembles = results.ensembles
if not ensembles:
    st.info(guidance.no_ensemble_markdown())
else:
    best = results.best_published(["fusion"], lambda r: r.is_ensemble)
    run = best[0] if best else ensembles[0]
    if len(ensembles) > 1:
        ids = [r.id for r in ensembles]
        run = results.get(st.selectbox("Ensemble run", ids, index=ids.index(run.id), key="ensemble_run",
                                       format_func=state.run_label(results),
                                       help="Opens on the published fusion with the highest test accuracy "
                                            "(FER2013 first)."))
    m = run.metrics
    if m:
        cols = st.columns(5)
        cols[0].metric("fused accuracy", f"{m['accuracy']:.2%}")
        cols[1].metric("macro-F1", f"{m['macro_f1']:.3f}")
        cols[2].metric("NLL", f"{m['nll']:.3f}")
        cols[3].metric("ECE", f"{m['ece']:.2%}")
        cols[4].metric("n", f"{m['n']}")
        gain = m.get("accuracy_gain_over_best_branch")
        best = m.get("best_branch")
        extra = f" Accuracy gain over the best branch ({best}): {gain:+.2%}." if isinstance(gain, float) and best else ""
        st.caption(f"`{run.id}` on {m['split']}.{extra} Command: `{m['command']}`")
    elif run.fusion is not None:
        st.warning(f"`{run.id}` has no metrics.json yet (still fitting?).")

    if run.fusion is not None:
        st.subheader("Fusion")
        f = run.fusion
        facts = {k: f[k] for k in ("method", "temperature", "fit_split", "eval_split", "cross_fit_folds") if k in f}
        if facts:
            st.markdown("  ·  ".join(f"**{k}**: `{v:.4g}`" if isinstance(v, float) else f"**{k}**: `{v}`"
                                     for k, v in facts.items()))
        weights = tables.fusion_weights_frame(f)
        if not weights.empty:
            left, right = st.columns([3, 2])
            left.dataframe(tables.style(weights, decimals=4), placeholder=tables.NO_VALUE, key="fusion_weights")
            if weights["weight"].notna().any():
                right.altair_chart(charts.weights_bars(weights))
        if f.get("weights_meaning"):
            st.caption(f"Weight: {f['weights_meaning']}.")
        for note in f.get("notes") or []:
            st.caption(f"Note: {note}")
    if run.comparison:
        st.subheader("Each branch vs the fusion (same test samples)")
        comparison = tables.comparison_frame(run.comparison)
        st.dataframe(tables.style(comparison, ["accuracy", tables.MACRO_F1], [tables.NLL, tables.ECE]),
                     placeholder=tables.NO_VALUE, key="ensemble_comparison")
    if run.ablation:
        st.subheader("Ablation: every subset of branches")
        ablation = tables.ablation_frame(run.ablation)
        st.dataframe(tables.style(ablation, ["fit-split CV acc", "accuracy", tables.MACRO_F1], [tables.NLL, tables.ECE]),
                     placeholder=tables.NO_VALUE, key="ensemble_ablation")
        meta = run.tables_meta.get("ablation", {})
        where = f" on {meta['eval_split']}" if meta.get("eval_split") else ""
        st.caption(f"Each subset fit on the fit split and scored{where}; sorted by accuracy, best value per column "
                   "highlighted. Choose a subset by its fit-split CV accuracy (cross-fitted), not by the test "
                   "accuracy." + (f" Command: `{meta['command']}`" if meta.get("command") else ""))
        for method, row in (meta.get("selected") or {}).items():
            if isinstance(row, dict) and isinstance(row.get("branches"), list):
                st.caption(f"Chosen on the fit split ({method}): {' + '.join(map(str, row['branches']))}")

conformal = results.with_conformal
if conformal:
    st.subheader("Conformal prediction sets")
    st.dataframe(tables.style(tables.conformal_frame(conformal), decimals=2), placeholder=tables.NO_VALUE,
                 key="conformal_table")
    st.caption("Split-conformal sets calibrated on the fit split: the true label is in the set with at least the "
               "target probability. Smaller sets at the same coverage are better.")
