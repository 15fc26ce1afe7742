"""The dashboard's pages, one script each, run by ``st.navigation`` in ``dashboard/app.py``.

Not named ``pages/``: Streamlit would also treat such a folder as legacy multipage scripts and serve
them directly on a deep link, skipping the entry point's navigation, page config and sidebar.
"""
