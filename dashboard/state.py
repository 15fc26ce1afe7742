"""Streamlit glue shared by every page: the results root, cached loading, warnings and guidance."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import guidance
from dashboard.loader import Results, fingerprint, load_results, split_metrics

RESULTS_KEY = "results_root"
RESULTS_ENV = "FER_RESULTS"
DEFAULT_RESULTS = "results"


def default_results_root(argv: list[str] | None = None) -> str:
    """``--results DIR`` after ``streamlit run dashboard/app.py --``, else $FER_RESULTS, else ``results``."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--results")
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.results or os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS


def init_session() -> None:
    if RESULTS_KEY not in st.session_state:
        st.session_state[RESULTS_KEY] = default_results_root()


def results_root() -> Path:
    return Path(str(st.session_state.get(RESULTS_KEY) or DEFAULT_RESULTS)).expanduser()


@st.cache_data(show_spinner=False, max_entries=16)
def _load(root: str, stamp: tuple) -> Results:  # stamp: only a cache key (changes when any result file does)
    return load_results(root)


def current_results() -> Results:
    root = results_root()
    return _load(str(root), fingerprint(root))


@st.cache_data(show_spinner="computing metrics from the predictions artifact ...", max_entries=64)
def cached_split_metrics(run_path: str, split: str, stamp: tuple) -> dict[str, Any]:
    return split_metrics(run_path, split)


def file_stamp(path: Path) -> tuple:
    try:
        s = path.stat()
        return (str(path), s.st_mtime_ns, s.st_size)
    except OSError:
        return (str(path), 0, 0)


def sidebar(results: Results) -> None:
    with st.sidebar:
        st.text_input("Results root", key=RESULTS_KEY,
                      help="Folder searched for run directories (any folder holding metrics.json).")
        if results.exists:
            published = "" if results.index is None else f", {len(results.index)} published (index.csv)"
            st.caption(f"{len(results.finished)} finished run(s), {len(results.in_progress)} in progress{published}")
        if st.button("Reload results", help="Results are re-read automatically when files change; this clears "
                                             "every cache (results and loaded models)."):
            st.cache_data.clear()
            st.cache_resource.clear()
            st.rerun()


def run_label(results: Results):
    """A selectbox ``format_func``: the run id, and its published name when index.csv lists it."""
    def label(run_id: str) -> str:
        entry = results.entry(run_id)
        return run_id if entry is None else f"{run_id} (published: {entry.name})"
    return label


def show_problems(results: Results) -> None:
    """One visible warning listing every skipped or partly unreadable run."""
    if not results.problems:
        return
    st.warning(f"{len(results.problems)} result file(s) could not be used and were skipped:\n\n"
               + "\n".join(f"- `{p.split(':', 1)[0]}`:{p.split(':', 1)[1]}" for p in results.problems))


def require_finished(results: Results) -> bool:
    """True when there is something to show; otherwise render the what-to-run page and return False."""
    if results.finished:
        return True
    st.info(guidance.empty_root_markdown(results.root, results.exists))
    st.code(guidance.REFERENCE_RUNS, language="bash")
    st.markdown("A one-minute smoke run on generated data (no dataset needed):")
    st.code(guidance.SMOKE_RUN, language="bash")
    if results.in_progress:
        st.caption("In progress (no metrics.json yet): " + ", ".join(f"`{r.id}`" for r in results.in_progress)
                   + " - their curves are on the Training page.")
    return False
