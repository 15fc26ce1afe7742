"""bench/select_reference.py: the reference run of each backbone is chosen on PublicTest and never reads PrivateTest."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from fer_core.artifact import Predictions, artifact_path
from fer_core.labels import FER7

REPO = Path(__file__).resolve().parents[1]


def fake_run(root: Path, name: str, backbone: str, n_correct: int, n: int = 40) -> Path:
    """A run dir with metrics.json and only a PublicTest artifact that gets ``n_correct`` of ``n`` right."""
    run = root / name
    labels = np.arange(n) % 7
    predicted = np.where(np.arange(n) < n_correct, labels, (labels + 1) % 7)
    probs = np.full((n, 7), 0.05)
    probs[np.arange(n), predicted] = 0.7
    Predictions(ids=[f"PublicTest_{i}" for i in range(n)], labels=labels, probs=probs, label_space=FER7,
                branch=f"face/{backbone}", modality="face", dataset="fer2013", split="PublicTest",
                calibration_split="PublicTest").save(artifact_path(run, "PublicTest"))
    (run / "metrics.json").write_text(json.dumps({"backbone": backbone}))
    return run


def select(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "bench" / "select_reference.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def test_picks_the_best_publictest_run_per_backbone(tmp_path):
    runs = [fake_run(tmp_path, "m_old", "mobilenetv2_100", 30), fake_run(tmp_path, "m_new", "mobilenetv2_100", 34),
            fake_run(tmp_path, "b0_only", "efficientnet_b0", 20)]
    out = tmp_path / "selection.json"
    done = select(*runs, "--out", out)
    assert done.returncode == 0, done.stderr
    chosen = {b: g["chosen"] for b, g in json.loads(out.read_text())["backbones"].items()}
    assert chosen == {"mobilenetv2_100": str(runs[1]), "efficientnet_b0": str(runs[2])}


def test_a_directory_that_is_not_a_face_run_is_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    done = select(tmp_path / "empty", "--out", tmp_path / "selection.json")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no metrics.json" in done.stderr
    assert not (tmp_path / "selection.json").exists()
