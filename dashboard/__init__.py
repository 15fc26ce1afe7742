"""The Streamlit dashboard: compare per-branch and fused results, training curves, calibration and
the ensemble, and try the trained models on an uploaded photo, speech clip or video.

Start it with ``fer dashboard --results results`` (or ``streamlit run dashboard/app.py -- --results results``).
It only reads run directories (``metrics.json``, ``history.json``, ``predictions/``, ``fusion.json`` ...) and the
root's ``index.csv`` (the published runs, which every page lists first); nothing needs training to open it.
"""
