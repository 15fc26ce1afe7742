"""The Streamlit dashboard: compare per-branch and fused results, training curves, calibration and
the ensemble, and try the trained models on an uploaded photo or speech clip.

Start it with ``fer dashboard --results results`` (or ``streamlit run dashboard/app.py -- --results results``).
It only reads run directories (``metrics.json``, ``history.json``, ``predictions/``, ``fusion.json`` ...);
nothing needs training to open it.
"""
