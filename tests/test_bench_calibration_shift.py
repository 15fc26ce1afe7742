"""bench/calibration_shift.py: recovers each split's own temperature and shows what the protocol's one costs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.special import softmax

from fer_core.artifact import Predictions, artifact_path
from fer_core.labels import FER7

REPO = Path(__file__).resolve().parents[1]


def split_artifact(run: Path, split: str, true_temperature: float | None, n: int, seed: int) -> None:
    """Logits whose labels are drawn from softmax(logits / true_temperature); no logits when it is None."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, (n, 7))
    t = true_temperature or 1.0
    probs = softmax(logits / t, axis=1)
    labels = (rng.random((n, 1)) > np.cumsum(probs, axis=1)).sum(1).clip(0, 6)
    Predictions(ids=[f"{split}_{i}" for i in range(n)], labels=labels, probs=probs, label_space=FER7,
                branch="face/synthetic", modality="face", dataset="fer2013", split=split,
                logits=logits if true_temperature else None, temperature=t,
                calibration_split="PublicTest").save(artifact_path(run, split))


def diagnose(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "bench" / "calibration_shift.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def test_each_split_temperature_is_recovered_and_the_shift_costs_ece(tmp_path):
    run = tmp_path / "shifted"
    split_artifact(run, "PublicTest", 1.5, n=4000, seed=0)
    split_artifact(run, "PrivateTest", 1.0, n=4000, seed=1)
    out = tmp_path / "shift.json"
    done = diagnose(run, "--out", out, "--draws", "20")
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    (row,) = record["rows"]
    assert abs(row["t_public"] - 1.5) < 0.1 and abs(row["t_private_oracle"] - 1.0) < 0.07
    lo, hi = row["t_public_bootstrap_5_95"]
    assert lo < row["t_public"] < hi and row["t_private_oracle"] < lo
    assert row["ece_private_at_t_public"] > 2 * row["ece_private_at_t_private_oracle"]
    assert record["runs_with_oracle_t_below_t_public"] == "1/1"
    assert row["ece_target"] == 0.02 and 0.0 <= row["p_perfect_meets_target"] <= 1.0
    assert "| face/synthetic |" in out.with_suffix(".md").read_text()


def test_an_artifact_without_logits_is_refused_in_one_line(tmp_path):
    run = tmp_path / "probs_only"
    split_artifact(run, "PublicTest", None, n=50, seed=0)
    split_artifact(run, "PrivateTest", None, n=50, seed=1)
    done = diagnose(run, "--out", tmp_path / "shift.json")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "has no logits" in done.stderr
    assert not (tmp_path / "shift.json").exists()


def test_an_ece_target_outside_0_1_is_refused_in_one_line(tmp_path):
    run = tmp_path / "shifted"
    split_artifact(run, "PublicTest", 1.2, n=50, seed=0)
    split_artifact(run, "PrivateTest", 1.0, n=50, seed=1)
    done = diagnose(run, "--out", tmp_path / "shift.json", "--target", "2")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--target 2.0" in done.stderr
    assert not (tmp_path / "shift.json").exists()
