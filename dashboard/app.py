"""Dashboard entry point: ``streamlit run dashboard/app.py -- --results DIR`` (or ``fer dashboard``)."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import dashboard  # noqa: F401  (installed with `pip install -e .`)
except ModuleNotFoundError:  # a plain checkout: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st

from dashboard import state

# Page scripts live in views/ (see views/__init__.py for why not pages/).
PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/leaderboard:", url_path="overview", default=True),
    st.Page("views/training.py", title="Training", icon=":material/show_chart:", url_path="training"),
    st.Page("views/per_class.py", title="Per class", icon=":material/grid_on:", url_path="per-class"),
    st.Page("views/calibration.py", title="Calibration", icon=":material/tune:", url_path="calibration"),
    st.Page("views/ensemble.py", title="Ensemble", icon=":material/hub:", url_path="ensemble"),
    st.Page("views/try_it.py", title="Try it", icon=":material/photo_camera:", url_path="try-it"),
]

st.set_page_config(page_title="FER fusion dashboard", page_icon=":material/mood:", layout="wide")
state.init_session()
page = st.navigation(PAGES)
state.sidebar(state.current_results())
page.run()
