"""Fusion strategies on synthetic branches with known structure, the missing mask, the protocol."""

from __future__ import annotations

from pathlib import Path
import json

import numpy as np
import pytest

from ensemble.fusion import FittedFusion, fit_fusion
from ensemble.fuse import FuseOptions, run_fuse
from ensemble.inputs import load_inputs
from ensemble.methods import METHODS, LogPoolFusion, MeanFusion, StackingFusion, centered_log_probs
from ensemble.synthetic import synthetic_branch, synthetic_samples, write_run
from fer_core.artifact import load_run
from fer_core.cli import main as fer

N = 800


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    """Two independent, equally good noisy branches (one with 15 % missing) and two useless ones:
    pure noise, calibrated (so ~uniform) or not (confidently random)."""
    root = tmp_path_factory.mktemp("branches")
    samples = synthetic_samples({"PublicTest": N, "PrivateTest": N}, seed=3)
    spec = {"good_a": (1.3, 0.0, "PublicTest"), "good_b": (1.3, 0.15, "PublicTest"),
            "useless": (0.0, 0.0, None), "useless_calibrated": (0.0, 0.0, "PublicTest")}
    for i, (name, (strength, missing, cal)) in enumerate(spec.items()):
        write_run(root / name, synthetic_branch(samples, name=f"face/{name}", modality="face", strength=strength,
                                                seed=100 + i, missing=missing, calibration_split=cal))
    return root


def _eval_scores(inputs, result):
    ev = inputs.eval
    keep = ev.any_present & (ev.labels >= 0)
    p = result.fusion.calibrate(result.eval_scores[keep])
    y = ev.labels[keep]
    return float((p.argmax(1) == y).mean()), float(-np.log(p[np.arange(len(y)), y]).mean())


def _branch_scores(inputs, k):
    ev = inputs.eval
    keep = ev.present[k] & (ev.labels >= 0)
    p, y = ev.probs[k][keep], ev.labels[keep]
    return float((p.argmax(1) == y).mean()), float(-np.log(p[np.arange(len(y)), y]).mean())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_fusion_of_two_independent_branches_beats_both(branches, method):
    inputs = load_inputs([branches / "good_a", branches / "good_b"])
    result = fit_fusion(inputs, method)
    acc, nll = _eval_scores(inputs, result)
    for k in range(2):
        b_acc, b_nll = _branch_scores(inputs, k)
        assert acc > b_acc + 0.05, (method, acc, b_acc)
        assert nll < b_nll - 0.1, (method, nll, b_nll)


def test_useless_branch_gets_about_zero_weight(branches):
    inputs = load_inputs([branches / "good_a", branches / "good_b", branches / "useless"])
    logpool = fit_fusion(inputs, "logpool").fusion.method.weights(inputs.names)
    assert logpool["face/useless"] < 0.05 * min(logpool["face/good_a"], logpool["face/good_b"]), logpool
    assert logpool["face/good_a"] > 0.5 and logpool["face/good_b"] > 0.5
    stacked = fit_fusion(inputs, "stacking", cross_fit_folds=0)
    stacking = stacked.fusion.method.weights(inputs.names)
    assert stacking["face/useless"] < 0.3 * min(stacking["face/good_a"], stacking["face/good_b"]), stacking
    # a useless branch costs (almost) nothing, calibrated (~uniform) or not (confidently random)
    without = _eval_scores(inputs.select([0, 1]), fit_fusion(inputs.select([0, 1]), "logpool"))[0]
    for useless in ("useless", "useless_calibrated"):
        with_useless = load_inputs([branches / "good_a", branches / "good_b", branches / useless])
        acc = _eval_scores(with_useless, fit_fusion(with_useless, "logpool"))[0]
        assert acc >= without - 0.01, (useless, acc, without)


def _toy(seed=0, n=50, c=4):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(c), size=(2, n))
    present = np.ones((2, n), bool)
    present[1, :10] = False  # only branch 0
    present[0, 10:20] = False  # only branch 1
    present[:, 20:25] = False  # nothing
    probs[~present] = np.nan
    return probs, present, rng.integers(0, c, n)


def test_mean_renormalises_over_present_branches():
    probs, present, _ = _toy()
    s = MeanFusion().scores(probs, present)
    np.testing.assert_allclose(np.exp(s[:10]), probs[0, :10], atol=1e-9)
    np.testing.assert_allclose(np.exp(s[10:20]), probs[1, 10:20], atol=1e-9)
    np.testing.assert_allclose(np.exp(s[25:]), probs[:, 25:].mean(0), atol=1e-9)
    assert np.isnan(s[20:25]).all() and np.isfinite(s[:20]).all() and np.isfinite(s[25:]).all()


def test_logpool_drops_absent_experts():
    probs, present, _ = _toy()
    m = LogPoolFusion([0.7, 1.9])
    s = m.scores(probs, present)
    logp = np.log(probs)
    from scipy.special import softmax

    np.testing.assert_allclose(softmax(s[:10], 1), softmax(0.7 * logp[0, :10], 1), atol=1e-9)
    np.testing.assert_allclose(softmax(s[10:20], 1), softmax(1.9 * logp[1, 10:20], 1), atol=1e-9)
    np.testing.assert_allclose(softmax(s[25:], 1), softmax(0.7 * logp[0, 25:] + 1.9 * logp[1, 25:], 1), atol=1e-9)
    assert np.isnan(s[20:25]).all()


def test_stacking_treats_absent_branch_as_uninformative():
    probs, present, labels = _toy(n=400)
    full = np.ones_like(present)
    filled = np.where(present[..., None], probs, 0.25)
    m = StackingFusion(cs=(1.0,)).fit(filled, full, labels)
    s = m.scores(probs, present)
    # an absent branch scores exactly like a branch that predicted the uniform distribution
    np.testing.assert_allclose(s[:20], m.scores(filled, full)[:20], atol=1e-9)
    assert np.isnan(s[20:25]).all()
    assert (centered_log_probs(probs, present)[~present] == 0).all()


def test_no_branch_present_is_reported_and_marked_absent(tmp_path):
    samples = synthetic_samples({"PublicTest": 300, "PrivateTest": 300}, seed=5)
    runs = []
    for i in range(2):
        preds = synthetic_branch(samples, name=f"face/m{i}", modality="face", strength=1.5, seed=i, missing=0.2)
        ev = preds["PrivateTest"]
        ev.present[:7] = False  # the first 7 samples: no branch has them
        ev.probs[:7] = np.nan
        runs.append(write_run(tmp_path / f"m{i}", preds))
    m = run_fuse(runs, method="logpool", out=tmp_path / "out", options=FuseOptions(), command="test", quiet=True)
    fused = load_run(tmp_path / "out", "PrivateTest")
    none = ~(load_run(runs[0], "PrivateTest").present | load_run(runs[1], "PrivateTest").present)
    assert none.sum() >= 7
    np.testing.assert_array_equal(fused.present, ~none)
    assert np.isnan(fused.probs[~fused.present]).all()
    np.testing.assert_allclose(fused.probs[fused.present].sum(1), 1.0, atol=1e-6)
    assert m["n_no_branch"]["PrivateTest"] == int(none.sum())
    assert m["n"] == int((~none).sum())
    assert any("no branch present" in note for note in m["notes"])


def test_stacking_never_sees_eval_labels(branches, tmp_path, monkeypatch):
    """Scrambling every eval label changes no fitted parameter and no fused eval probability."""
    scrambled = tmp_path / "scrambled"
    rng = np.random.default_rng(0)
    perm = None
    for name in ("good_a", "good_b"):
        preds = {s: load_run(branches / name, s) for s in ("PublicTest", "PrivateTest")}
        if perm is None:
            perm = rng.permutation(preds["PrivateTest"].n)
        preds["PrivateTest"].labels = preds["PrivateTest"].labels[perm]
        write_run(scrambled / name, preds)

    from sklearn.linear_model import LogisticRegression

    seen = []
    original_fit = LogisticRegression.fit
    monkeypatch.setattr(LogisticRegression, "fit", lambda self, x, y, *a, **k: (seen.append(len(y)), original_fit(self, x, y, *a, **k))[1])
    clean = fit_fusion(load_inputs([branches / "good_a", branches / "good_b"]), "stacking")
    dirty = fit_fusion(load_inputs([scrambled / "good_a", scrambled / "good_b"]), "stacking")
    assert seen and max(seen) <= N  # never more rows than the fit split holds
    np.testing.assert_array_equal(clean.fusion.method.coef, dirty.fusion.method.coef)
    assert clean.fusion.temperature == dirty.fusion.temperature
    np.testing.assert_array_equal(clean.eval_scores, dirty.eval_scores)


def test_fit_split_scores_are_cross_fitted(branches):
    inputs = load_inputs([branches / "good_a", branches / "good_b"])
    crossed = fit_fusion(inputs, "logpool", cross_fit_folds=5)
    in_sample = fit_fusion(inputs, "logpool", cross_fit_folds=0)
    assert crossed.fusion.info["cross_fit_folds"] == 5 and in_sample.fusion.info["cross_fit_folds"] == 0
    assert not np.allclose(crossed.fit_scores, in_sample.fit_scores)
    np.testing.assert_allclose(crossed.eval_scores, in_sample.eval_scores)  # same final model


@pytest.mark.parametrize("method", sorted(METHODS))
def test_fuse_run_dir_round_trip_and_fitted_fusion_api(branches, tmp_path, method):
    out = tmp_path / method
    runs = [branches / "good_a", branches / "good_b", branches / "useless"]
    assert fer(["ensemble", "fuse", *sum((["--branch", str(r)] for r in runs), []), "--method", method,
                "--out", str(out)]) == 0
    for name in ("metrics.json", "predictions/PublicTest.json", "predictions/PrivateTest.json", "fusion.json",
                 "comparison.json", "comparison.csv", "comparison.md", "reliability.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("split", "n", "accuracy", "macro_f1", "nll", "ece", "ece_uncalibrated", "temperature", "command",
                "method", "branches", "weights"):
        assert key in metrics, key
    assert metrics["command"].startswith("fer ensemble fuse") and metrics["method"] == method
    fusion_json = json.loads((out / "fusion.json").read_text())
    for key in ("method", "branches", "weights", "temperature", "fit_split", "eval_split", "command", "label_maps"):
        assert key in fusion_json, key
    assert [b["name"] for b in fusion_json["branches"]] == ["face/good_a", "face/good_b", "face/useless"]
    assert set(fusion_json["branches"][0]) >= {"name", "run_dir", "modality"}
    if method == "stacking":
        assert "coef" in fusion_json["stacking"]
    comp = json.loads((out / "comparison.json").read_text())
    assert [r["name"] for r in comp["rows"]] == ["face/good_a", "face/good_b", "face/useless", f"fusion/{method}"]
    assert set(comp["rows"][0]) == {"name", "modality", "accuracy", "macro_f1", "nll", "ece", "n"}
    assert (out / "comparison.csv").read_text().splitlines()[0] == "name,modality,accuracy,macro_f1,nll,ece,n"

    # the fused artifact round-trips and FittedFusion reproduces it from the branches' probabilities
    fused = load_run(out, "PrivateTest")
    assert fused.modality == "fusion" and fused.calibration_split == "PublicTest" and "PrivateTest" not in fused.fit_splits
    assert abs(fused.probs[fused.present].argmax(1).__eq__(fused.labels[fused.present]).mean() - metrics["accuracy"]) < 1e-12
    fitted = FittedFusion.load(out)
    given = {}
    for r in runs:
        a = load_run(r, "PrivateTest")
        given[a.branch] = a.probs
    np.testing.assert_allclose(fitted.fuse(given), fused.probs, atol=2e-7)
    one = fitted.fuse({"face/good_a": given["face/good_a"][:3]})  # a missing modality at inference time
    np.testing.assert_allclose(one.sum(1), 1.0)


def test_fusions_compose(branches, tmp_path):
    inner = tmp_path / "inner"
    run_fuse([branches / "good_a", branches / "good_b"], method="logpool", out=inner, options=FuseOptions(),
             command="test", quiet=True)
    outer = run_fuse([inner, branches / "useless"], method="logpool", out=tmp_path / "outer", options=FuseOptions(),
                     command="test", quiet=True, name="fusion/outer")
    assert outer["weights"]["fusion/logpool"] > 0.5 and outer["weights"]["face/useless"] < 0.05
    assert load_run(tmp_path / "outer", "PrivateTest").branch == "fusion/outer"


def test_ablation_reports_every_subset(branches, tmp_path):
    out = tmp_path / "abl"
    runs = [branches / "good_a", branches / "good_b", branches / "useless"]
    assert fer(["ensemble", "ablate", *sum((["--branch", str(r)] for r in runs), []), "--method", "mean",
                "--method", "logpool", "--out", str(out), "--no-progress"]) == 0
    table = json.loads((out / "ablation.json").read_text())
    rows = table["rows"]
    assert len(rows) == 7 * 2
    assert {tuple(r["branches"]) for r in rows} == {
        ("face/good_a",), ("face/good_b",), ("face/useless",), ("face/good_a", "face/good_b"),
        ("face/good_a", "face/useless"), ("face/good_b", "face/useless"), ("face/good_a", "face/good_b", "face/useless")}
    assert set(rows[0]) == {"branches", "method", "fit_cv_accuracy", "accuracy", "macro_f1", "nll", "ece", "n"}
    acc = {(tuple(r["branches"]), r["method"]): r["accuracy"] for r in rows}
    assert acc[(("face/good_a", "face/good_b"), "logpool")] > acc[(("face/good_a",), "logpool")] + 0.05
    # the subset is chosen on cross-fitted PublicTest scores, and the choice is the one PrivateTest agrees with
    cv = {(tuple(r["branches"]), r["method"]): r["fit_cv_accuracy"] for r in rows}
    assert cv[(("face/good_a", "face/good_b"), "logpool")] > cv[(("face/good_a",), "logpool")] + 0.05
    assert cv[(("face/useless",), "mean")] < 0.3
    for method in ("mean", "logpool"):
        chosen = table["selected"][method]
        assert chosen["fit_cv_accuracy"] == max(v for (_, m), v in cv.items() if m == method)
        assert {"face/good_a", "face/good_b"} <= set(chosen["branches"])
    assert table["selected_by"] == "PublicTest cross-fitted accuracy (fit_cv_accuracy)"
    assert (out / "ablation.csv").read_text().startswith("branches,method,fit_cv_accuracy,accuracy,macro_f1,nll,ece,n\n")
    assert "- logpool: best PublicTest cross-fitted accuracy" in (out / "ablation.md").read_text()
    assert "| branches | method |" in (out / "ablation.md").read_text()
    # the full-set row is exactly what `fuse` reports
    fused = run_fuse(runs, method="logpool", out=tmp_path / "full", options=FuseOptions(), command="t", quiet=True)
    assert abs(acc[(("face/good_a", "face/good_b", "face/useless"), "logpool")] - fused["accuracy"]) < 1e-12


def test_selection_on_fit_split_breaks_ties_towards_fewer_branches():
    from ensemble.ablate import select_on_fit_split

    rows = [{"branches": ["a", "b"], "method": "mean", "fit_cv_accuracy": 0.7},
            {"branches": ["a"], "method": "mean", "fit_cv_accuracy": 0.7},
            {"branches": ["a", "b", "c"], "method": "mean", "fit_cv_accuracy": 0.69},
            {"branches": ["c"], "method": "logpool", "fit_cv_accuracy": None},
            {"branches": ["b"], "method": "logpool", "fit_cv_accuracy": 0.5}]
    chosen = select_on_fit_split(rows)
    assert chosen["mean"]["branches"] == ["a"] and chosen["logpool"]["branches"] == ["b"]


def test_custom_split_names(tmp_path):
    """The audio pseudo-pair runs fit on `validation` and report `test`."""
    samples = synthetic_samples({"validation": 300, "test": 300}, seed=9)
    runs = [write_run(tmp_path / f"b{i}", synthetic_branch(samples, name=f"audio/b{i}", modality="audio", strength=1.5,
                                                           seed=i, calibration_split="validation",
                                                           fit_splits=["train", "validation"]))
            for i in range(2)]
    out = tmp_path / "out"
    assert fer(["ensemble", "fuse", "--branch", str(runs[0]), "--branch", str(runs[1]), "--fit-split", "validation",
                "--eval-split", "test", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "predictions").iterdir()) == ["test.json", "validation.json"]
    assert json.loads((out / "metrics.json").read_text())["split"] == "test"
    assert fer(["ensemble", "conformal", "--run", str(out), "--fit-split", "validation", "--eval-split", "test"]) == 0


def test_clashing_branch_names_get_the_shortest_telling_path():
    from ensemble.inputs import _unique_names

    class A:
        def __init__(self, branch):
            self.branch = branch

    arts = [A("face/m"), A("face/m"), A("landmarks"), A("face/b")]
    dirs = [Path("/r/fer2013/m"), Path("/r/fer2013/seed2/m"), Path("/r/fer2013/landmarks"), Path("/r/x/b")]
    assert _unique_names(arts, dirs) == ["face/m@fer2013/m", "face/m@seed2/m", "landmarks", "face/b"]
    assert _unique_names([A("f"), A("f")], [Path("/a/run"), Path("/b/run")]) == ["f@a/run", "f@b/run"]
    assert _unique_names([A("f"), A("f")], [Path("/a/run"), Path("/a/run")]) == ["f@/a/run", "f@/a/run#2"]


def test_isotonic_calibration_is_chosen_on_cross_fitted_scores_and_round_trips(tmp_path):
    """A branch whose confidence is wrong in a way no temperature fixes (too sure when it says 0.3-0.6, unsure
    above): --calibration auto adds isotonic maps, fit-split probabilities stay held out, fusion.json reapplies them."""
    root = tmp_path / "runs"
    samples = synthetic_samples({"PublicTest": 3000, "PrivateTest": 3000}, seed=5)
    write_run(root / "a", synthetic_branch(samples, name="face/a", modality="face", strength=1.2, seed=7,
                                           calibration_split="PublicTest"))
    for split in ("PublicTest", "PrivateTest"):
        art = load_run(root / "a", split)
        top = art.probs.max(1, keepdims=True)
        art.probs = np.where(art.probs == top, np.sqrt(top), art.probs * (1 - np.sqrt(top)) / (1 - top))
        art.logits = np.log(art.probs)
        art.save(root / "a" / "predictions" / f"{split}.json")
    runs = ["--branch", str(root / "a")]
    assert fer(["ensemble", "fuse", *runs, "--method", "mean", "--calibration", "auto", "--out", str(tmp_path / "auto")]) == 0
    assert fer(["ensemble", "fuse", *runs, "--method", "mean", "--out", str(tmp_path / "plain")]) == 0
    auto, plain = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("auto", "plain"))
    assert auto["calibrated_with"] == "isotonic" and plain["calibrated_with"] == "temperature"
    compared = auto["calibration_compared"]
    assert compared["isotonic"] < compared["temperature"]
    assert auto["ece"] < plain["ece"]
    fitted = FittedFusion.load(tmp_path / "auto")
    assert fitted.calibrator.kind == "isotonic" and json.loads((tmp_path / "auto" / "fusion.json").read_text())[
        "calibration"]["kind"] == "isotonic"
    fused = load_run(tmp_path / "auto", "PrivateTest")
    np.testing.assert_allclose(fitted.fuse({"face/a": load_run(root / "a", "PrivateTest").probs}), fused.probs, atol=2e-7)
    public = load_run(tmp_path / "auto", "PublicTest")  # cross-fitted: not the maps applied to their own fit rows
    in_sample = fitted.fuse({"face/a": load_run(root / "a", "PublicTest").probs})
    assert np.abs(public.probs - in_sample).max() > 1e-3
    legacy = json.loads((tmp_path / "plain" / "fusion.json").read_text())
    del legacy["calibration"]  # files written before isotonic maps existed read as temperature only
    assert FittedFusion.from_json(legacy).calibrator.kind == "temperature"
