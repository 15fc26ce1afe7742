"""bench/calibrators.py: every calibrator is fit on PublicTest only; a class bias the logits lack is recovered."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.special import softmax

from fer_core.artifact import Predictions, artifact_path
from fer_core.labels import FER7

REPO = Path(__file__).resolve().parents[1]
BIAS = np.array([1.5, -1.0, 0.0, 0.5, 0.0, -0.5, 0.0])


def split_artifact(run: Path, split: str, n: int, seed: int) -> None:
    """Labels drawn from softmax(logits / 2 + BIAS): a temperature alone cannot calibrate these logits."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, (n, 7))
    probs = softmax(logits / 2 + BIAS, axis=1)
    labels = (rng.random((n, 1)) > np.cumsum(probs, axis=1)).sum(1).clip(0, 6)
    Predictions(ids=[f"{split}_{i}" for i in range(n)], labels=labels, probs=softmax(logits, axis=1), label_space=FER7,
                branch="face/synthetic", modality="face", dataset="fer2013", split=split, logits=logits,
                calibration_split="PublicTest").save(artifact_path(run, split))


def test_calibrators_are_chosen_on_publictest_and_scored_on_privatetest(tmp_path):
    run = tmp_path / "run"
    split_artifact(run, "PublicTest", 1500, seed=0)
    split_artifact(run, "PrivateTest", 1500, seed=1)
    out = tmp_path / "calibrators.json"
    r = subprocess.run([sys.executable, str(REPO / "bench" / "calibrators.py"), str(run), "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(out.read_text())["runs"]
    cal = row["calibrators"]
    assert set(cal) == {"temperature", "temperature+bias", "vector", "isotonic"}
    # the labels follow a per-class bias: calibrators with one learn it, on PublicTest and on PrivateTest alike
    for kind in ("temperature+bias", "vector"):
        assert cal[kind]["public_cross_fitted_nll"] < cal["temperature"]["public_cross_fitted_nll"] - 0.01
        assert cal[kind]["private_nll"] < cal["temperature"]["private_nll"] - 0.01
    assert row["chosen_by_public_nll"] in ("temperature+bias", "vector")
    assert (tmp_path / "calibrators.md").read_text().count("| `run` |") == 4
    r = subprocess.run([sys.executable, str(REPO / "bench" / "calibrators.py"), str(tmp_path / "missing")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "no predictions" in r.stderr and "Traceback" not in r.stderr
