import os
from pathlib import Path

import pytest

from tests.cli import Completed, fer

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # Keep unit tests from polluting the user's cache; real-data tests reuse one cache per test run.
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


def run_fer(*args: str) -> Completed:
    """``fer ARGS`` (in this process, ``tests.cli``); fails the test with its stderr on a non-zero exit."""
    r = fer(*args)
    assert r.returncode == 0, r.stderr
    return r


def train_tiny_face(out: Path, seed: int = 0) -> Path:
    """A one-epoch vgg48_tiny face run on the synthetic set (calibrated, evaluated: a complete run directory)."""
    run_fer("face", "train", "--backbone", "vgg48_tiny", "--data", "synthetic", "--epochs", "1", "--seed",
            str(seed), "--input-size", "48", "--set", "model.head_hidden=64", "--set", "train.batch_size=64",
            "--set", "model.drop_path_rate=0", "--out", str(out), "--no-progress")
    return out


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny face run, a tiny landmark run and their logpool fusion, trained once per test run.

    Tests read them; a test that changes a run works on a copy (``shutil.copytree``).
    """
    root = tmp_path_factory.mktemp("tiny_runs")
    face, landmarks, fusion = train_tiny_face(root / "face"), root / "landmarks", root / "fusion"
    run_fer("landmarks", "train", "--data", "synthetic", "--out", str(landmarks), "--epochs", "3", "--no-progress",
            "--set", "mlp.hidden=[32]")
    run_fer("ensemble", "fuse", "--branch", str(face), "--branch", str(landmarks), "--method", "logpool",
            "--out", str(fusion), "--no-progress")
    return {"face": face, "landmarks": landmarks, "fusion": fusion}
