"""The committed runs in results/ re-evaluate to the numbers their metrics.json publish.

A trained branch run (one with a history.json) is re-calibrated from its committed logits by the shared
evaluator (``fer_core.evaluate.calibrate``, with the calibration choice the run records); every run's metrics are rebuilt from its artifacts. Artifacts store
logits and probabilities to 7 decimals, hence the small tolerance on the continuous numbers (a little larger on
the NLL, where a rounded small probability moves its logarithm most).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_core import artifact
from fer_core.evaluate import SplitLogits, calibrate
from fer_core.report import build_metrics

RESULTS = Path(__file__).resolve().parents[1] / "results"
RUNS = sorted(p.parent for p in RESULTS.rglob("metrics.json") if (p.parent / "predictions").is_dir())
EXACT = ("split", "n", "n_total", "n_missing", "accuracy", "macro_f1", "confusion_matrix", "label_space",
         "calibration_split")
CLOSE = {"temperature": 2e-6, "ece": 2e-6, "ece_uncalibrated": 2e-6, "brier": 2e-6, "nll": 2e-5}


def test_results_hold_runs_with_committed_predictions():
    assert len(RUNS) >= 8
    assert any((run / "history.json").is_file() for run in RUNS)


@pytest.mark.parametrize("run", RUNS, ids=lambda p: p.relative_to(RESULTS).as_posix())
def test_committed_run_re_evaluates_to_its_published_metrics(run, tmp_path):
    published = json.loads((run / "metrics.json").read_text())
    test = artifact.load_run(run, published["split"])
    cal = artifact.load_run(run, test.calibration_split)
    if (run / "history.json").is_file():  # a trained branch: calibrate again from its logits
        splits = {a.split: SplitLogits(a.ids, a.labels, a.logits, a.present) for a in (cal, test)}
        arts = calibrate(tmp_path, splits, calibration_split=cal.split, write=(cal.split, test.split),
                         label_space=test.label_space, branch=test.branch, modality=test.modality,
                         dataset=test.dataset, fit_splits=test.fit_splits, command=test.command,
                         calibration=(cal.calibration or {}).get("choice", "temperature"))
        for a in (cal, test):
            np.testing.assert_allclose(arts[a.split].probs[a.present], a.probs[a.present], atol=2e-6)
        cal, test = arts[cal.split], arts[test.split]
    metrics = build_metrics(test)
    for key in EXACT:
        assert metrics[key] == published[key], key
    for key, tolerance in CLOSE.items():
        assert metrics[key] == pytest.approx(published[key], abs=tolerance), key
    if "val_accuracy" in published:
        assert build_metrics(cal)["accuracy"] == published["val_accuracy"]


def test_shipped_prediction_sets_are_those_of_the_committed_runs():
    from fer_core import zoo
    from fer_core.conformal import ZOO_LEVELS, zoo_sets

    manifest = zoo.load_manifest(zoo.SHIPPED_DIR)
    for entry in [*manifest.models, *manifest.fusions]:
        assert sorted(entry.conformal["thresholds"]) == sorted(f"{level:g}" for level in ZOO_LEVELS), entry.name
        run = RESULTS.parent / entry.run
        metrics = json.loads((run / "metrics.json").read_text())
        if metrics["accuracy"] != entry.metrics["accuracy"]:
            continue  # the run's weights read with other test-time views (fer models add-views): scored at publishing
        expected = zoo_sets(artifact.load_run(run, metrics["calibration_split"]), artifact.load_run(run, metrics["split"]))
        assert entry.conformal == expected, entry.name


def test_committed_paper_tables_are_what_fer_face_compare_writes_from_the_committed_runs(tmp_path, monkeypatch):
    from fer_face.compare import TABLE_STEM, compare
    from fer_face.models import paper_backbones

    monkeypatch.chdir(RESULTS.parent)  # the tables name their runs relative to the repository root
    compare(paper_backbones(), runs=Path("results/fer2013/paper"), recipe="paper", out=tmp_path,
            improved_runs=Path("results/fer2013/improved"))
    for name in ("comparison.md", "comparison.csv", "comparison.json",
                 *(f"{TABLE_STEM}.{ext}" for ext in ("md", "csv", "json"))):
        assert (tmp_path / name).read_text() == (RESULTS / "fer2013/paper" / name).read_text(), name
    assert (RESULTS / "fer2013/paper/paper-figure6.png").is_file()
