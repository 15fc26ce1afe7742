import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # Keep unit tests from polluting the user's cache; real-data tests reuse one cache per session.
    os.environ.setdefault("FER_CACHE_DIR", str(REPO / ".cache" / "fer-test"))
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """$FER_DATA_ROOT (set by .ci/run to ../shared/data); tests needing real data skip when it is absent."""
    root = os.environ.get("FER_DATA_ROOT")
    if not root:
        sibling = REPO.parent / "shared" / "data"
        root = str(sibling) if sibling.is_dir() else ""
    return Path(root) if root else Path("/nonexistent")


@pytest.fixture(scope="session")
def fer2013_zip(data_root) -> Path:
    p = data_root / "fer2013.zip"
    if not p.is_file():
        pytest.skip(f"real FER2013 not available: set FER_DATA_ROOT to a folder holding fer2013.zip (looked at {p})")
    return p


@pytest.fixture(scope="session")
def ravdess_zip(data_root) -> Path:
    p = data_root / "ravdess-speech-16k.zip"
    if not p.is_file():
        pytest.skip(f"real RAVDESS not available: set FER_DATA_ROOT to a folder holding ravdess-speech-16k.zip (looked at {p})")
    return p
