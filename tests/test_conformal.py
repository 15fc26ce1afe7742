"""Split-conformal prediction sets reach their nominal coverage (within sampling error)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ensemble.conformal import evaluate_sets
from fer_core.conformal import class_thresholds, conformal_quantile, nonconformity, prediction_sets
from ensemble.synthetic import synthetic_branch, synthetic_samples, write_run
from fer_core.cli import main as fer
from fer_core.labels import FER7


def _draw(rng, n, c=7, sharpness=1.5, misspecify=1.0):
    """Probabilities and labels drawn from a *different* (tempered) distribution: a miscalibrated model."""
    logits = rng.normal(size=(n, c)) * sharpness
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    truth = np.exp(logits * misspecify)
    truth /= truth.sum(1, keepdims=True)
    labels = (truth.cumsum(1) > rng.uniform(size=(n, 1))).argmax(1)
    return probs, labels


@pytest.mark.parametrize("method", ["lac", "aps"])
@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_coverage_is_nominal_within_sampling_error(method, coverage):
    rng = np.random.default_rng(0)
    n_cal, n_test, reps = 500, 4000, 12
    alpha = 1 - coverage
    covs = []
    for _ in range(reps):
        pc, yc = _draw(rng, n_cal, misspecify=0.6)  # over-confident model: raw top-k would under-cover
        pt, yt = _draw(rng, n_test, misspecify=0.6)
        u_c, u_t = (rng.uniform(size=n_cal), rng.uniform(size=n_test)) if method == "aps" else (np.zeros(n_cal), np.zeros(n_test))
        q = conformal_quantile(nonconformity(method, pc, yc, u_c), alpha)
        sets = prediction_sets(method, pt, q, u_t)
        covs.append(evaluate_sets(sets, yt, FER7)["coverage"])
    mean = float(np.mean(covs))
    # E[coverage] is in [1-a, 1-a + 1/(n+1)]; the mean of `reps` runs varies by the Beta spread of the
    # calibration quantile plus test-set noise: sd ~ sqrt(a(1-a)/(n_cal+2) + a(1-a)/n_test) / sqrt(reps)
    sd = math.sqrt(alpha * coverage / (n_cal + 2) + alpha * coverage / n_test) / math.sqrt(reps)
    assert coverage - 4 * sd <= mean <= coverage + 1 / (n_cal + 1) + 4 * sd, (method, coverage, mean, sd)


@pytest.mark.parametrize("method", ["lac", "aps"])
def test_class_conditional_sets_cover_every_class(method):
    """A model blind to class 0 (like FER2013's disgust): marginal sets skip it, Mondrian sets don't."""
    rng = np.random.default_rng(2)
    n_cal, n_test = 6000, 6000

    def blind(n):
        p, y = _draw(rng, n)
        p[:, 0] *= 0.02
        return p / p.sum(1, keepdims=True), y

    (pc, yc), (pt, yt) = blind(n_cal), blind(n_test)
    u_c, u_t = (rng.uniform(size=n_cal), rng.uniform(size=n_test)) if method == "aps" else (np.zeros(n_cal), np.zeros(n_test))
    scores = nonconformity(method, pc, yc, u_c)
    marginal = evaluate_sets(prediction_sets(method, pt, conformal_quantile(scores, 0.1), u_t), yt, FER7)
    mondrian = evaluate_sets(prediction_sets(method, pt, class_thresholds(scores, yc, 7, 0.1), u_t), yt, FER7)
    assert marginal["per_class"]["angry"]["coverage"] < 0.8  # class 0 under-covered on its own ...
    assert abs(marginal["coverage"] - 0.9) < 0.02  # ... while the average is on target
    for name, c in mondrian["per_class"].items():
        assert abs(c["coverage"] - 0.9) < 4 * math.sqrt(0.09 / c["n"]) + 0.01, (name, c)


def test_aps_sets_are_prefixes_of_the_ranking_and_lac_sets_thresholds():
    rng = np.random.default_rng(1)
    p, _ = _draw(rng, 300)
    u = rng.uniform(size=300)
    aps = prediction_sets("aps", p, 0.8, u)
    order = np.argsort(-p, 1)
    ranked = np.take_along_axis(aps, order, 1)
    assert (np.diff(ranked.astype(int), axis=1) <= 0).all()  # once out, always out
    lac = prediction_sets("lac", p, 0.7, u)
    np.testing.assert_array_equal(lac, p >= 0.3)


def test_quantile_edge_cases():
    s = np.arange(10) / 10
    assert conformal_quantile(s, 0.5) == s[math.ceil(11 * 0.5) - 1]
    assert conformal_quantile(s, 0.01) == math.inf  # too few samples for 99 %: full sets, still valid


@pytest.mark.parametrize("method", ["lac", "aps"])
def test_conformal_cli_on_a_run_dir(tmp_path, capsys, method):
    samples = synthetic_samples({"PublicTest": 1500, "PrivateTest": 1500}, seed=4)
    run = write_run(tmp_path / "run", synthetic_branch(samples, name="face/x", modality="face", strength=1.2, seed=1,
                                                       missing=0.05))
    assert fer(["ensemble", "conformal", "--run", str(run), "--method", method, "--coverage", "0.9"]) == 0
    report = json.loads((run / "conformal.json").read_text())
    for key in ("coverage", "mean_set_size", "per_class", "n_calibration", "n_eval", "threshold", "coverage_target",
                "method", "fit_split", "eval_split", "command", "set_size_histogram", "n_absent"):
        assert key in report, key
    assert report["method"] == method and report["command"].startswith("fer ensemble conformal")
    assert abs(report["coverage"] - 0.9) < 4 * math.sqrt(0.09 / 1400) + 1 / 1400
    assert set(report["per_class"]) == set(FER7)
    assert all(0 <= c["coverage"] <= 1 and c["mean_set_size"] >= 0 for c in report["per_class"].values())
    assert report["n_absent"]["PrivateTest"] > 0 and report["n_eval"] + report["n_absent"]["PrivateTest"] == 1500
    assert sum(report["set_size_histogram"].values()) == report["n_eval"]
    assert "coverage" in capsys.readouterr().err
    # --out puts it elsewhere; higher coverage needs bigger sets
    assert fer(["ensemble", "conformal", "--run", str(run), "--method", method, "--coverage", "0.97",
                "--out", str(tmp_path / "c97")]) == 0
    wider = json.loads((tmp_path / "c97" / "conformal.json").read_text())
    assert wider["mean_set_size"] > report["mean_set_size"]
    assert fer(["ensemble", "conformal", "--run", str(run), "--method", method, "--class-conditional",
                "--out", str(tmp_path / "mondrian")]) == 0
    mondrian = json.loads((tmp_path / "mondrian" / "conformal.json").read_text())
    assert mondrian["class_conditional"] and set(mondrian["threshold"]) == set(FER7)


def test_conformal_refuses_bad_arguments(tmp_path, capsys):
    samples = synthetic_samples({"PublicTest": 50, "PrivateTest": 50}, seed=4)
    run = write_run(tmp_path / "run", synthetic_branch(samples, name="face/x", modality="face", strength=1.2, seed=1))
    for extra in (["--coverage", "1.5"], ["--fit-split", "PrivateTest"], ["--eval-split", "test"]):
        assert fer(["ensemble", "conformal", "--run", str(run), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
    assert not (run / "conformal.json").exists()


def test_a_zoo_set_is_the_class_conditional_lac_set():
    from fer_core.artifact import Predictions
    from fer_core.conformal import zoo_set, zoo_sets

    rng = np.random.default_rng(3)
    labels = ("a", "b", "c")

    def split(name, n):
        y = rng.integers(0, 3, n)
        logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[y]
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return Predictions(ids=[f"{name}{i}" for i in range(n)], labels=y, probs=probs, logits=logits,
                           label_space=labels, branch="face/x", modality="face", dataset="synthetic", split=name)

    cal, test = split("PublicTest", 400), split("PrivateTest", 300)
    record = zoo_sets(cal, test)
    scores = nonconformity("lac", cal.probs, cal.labels, np.zeros(400))
    for level in (0.8, 0.9, 0.95):
        q = class_thresholds(scores, cal.labels, 3, 1 - level)
        assert record["thresholds"][f"{level:g}"] == pytest.approx(list(q))
        sets = prediction_sets("lac", test.probs, q, np.zeros(300))
        assert record["test"]["coverage"][f"{level:g}"] == pytest.approx(sets[np.arange(300), test.labels].mean())
        for row in range(5):
            np.testing.assert_array_equal(zoo_set(test.probs[row], record, level), sets[row])
