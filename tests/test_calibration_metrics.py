import numpy as np
import pytest
from scipy.special import softmax

from fer_core import metrics
from fer_core.calibration import calibrated_probs, fit_temperature


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_temperature_scaling_recovers_known_temperature(true_t):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 7))
    p = softmax(logits / true_t, axis=1)
    labels = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)  # sample labels from the true distribution
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.05)


def test_calibration_lowers_nll_of_overconfident_model():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (5000, 7))
    labels = (softmax(logits, 1).cumsum(1) > rng.random((5000, 1))).argmax(1)
    overconfident = logits * 3
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3, rel=0.1)
    assert metrics.nll(calibrated_probs(overconfident, t), labels) < metrics.nll(softmax(overconfident, 1), labels)


def test_ece_hand_made_example():
    # 4 samples, 2 classes. Confidences 0.9, 0.9 (one right, one wrong) -> bin (0.8667, 0.9333]: |0.9-0.5|=0.4
    # confidences 0.6, 0.6 (both right) -> bin (0.5333, 0.6]: |0.6-1.0| = 0.4.  ECE = (2*0.4 + 2*0.4)/4 = 0.4
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 1, 0, 1])
    assert metrics.ece(probs, labels) == pytest.approx(0.4)
    bins = metrics.reliability_bins(probs, labels)
    assert sum(bins["count"]) == 4 and bins["accuracy"][13] == pytest.approx(0.5)
    assert bins["accuracy"][0] is None  # empty bins are null, never NaN


def test_perfectly_calibrated_has_small_ece():
    rng = np.random.default_rng(2)
    p = softmax(rng.normal(0, 2, (50000, 7)), 1)
    labels = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
    assert metrics.ece(p, labels) < 0.01


def test_summary_per_class_and_confusion():
    probs = np.eye(3)[[0, 1, 2, 2]]
    labels = np.array([0, 1, 2, 1])
    s = metrics.summary(probs, labels, ["a", "b", "c"])
    assert s["accuracy"] == 0.75
    assert s["per_class"]["b"]["recall"] == 0.5 and s["confusion_matrix"][1] == [0, 1, 1]


def test_ece_of_perfect_calibration_is_the_estimator_noise():
    certain = np.eye(7)[np.arange(700) % 7]
    assert metrics.ece_of_perfect_calibration(certain)["p95"] == 0.0  # labels drawn from one-hot probs are always right
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), size=3000)
    floor = metrics.ece_of_perfect_calibration(probs, draws=50)
    assert 0.0 < floor["p05"] < floor["mean"] < floor["p95"] < 0.06
    wrong = (probs.argmax(1) + 1) % 7  # always-wrong labels: far outside the noise band
    assert metrics.ece(probs, wrong) > floor["p95"] * 3


def test_share_of_perfectly_calibrated_draws_meeting_an_ece_target():
    probs = np.random.default_rng(1).dirichlet(np.ones(7), size=1000)
    floor = metrics.ece_of_perfect_calibration(probs, draws=40, at_most=0.0)
    assert floor["p_at_most"] == 0.0  # 1,000 drawn labels never land exactly on the confidences
    middle = metrics.ece_of_perfect_calibration(probs, draws=40, at_most=(floor["p05"] + floor["p95"]) / 2)
    assert 0.1 < middle["p_at_most"] < 0.9 and middle["at_most"] == (floor["p05"] + floor["p95"]) / 2
    assert metrics.ece_of_perfect_calibration(probs, draws=40, at_most=1.0)["p_at_most"] == 1.0
    assert "p_at_most" not in metrics.ece_of_perfect_calibration(probs, draws=5)


def test_reevaluating_an_unchanged_run_keeps_its_artifacts_and_fingerprints(tmp_path):
    """Another thread count moves float32 logits in the last bits; the temperature, the saved probabilities and
    the fingerprint a fusion recorded must not move with them. Other weights (larger change) refit."""
    from fer_core.artifact import load_run
    from fer_core.evaluate import SplitLogits, calibrate

    rng = np.random.default_rng(0)
    base = {s: rng.normal(0, 2, (300, 7)).astype(np.float32) for s in ("Training", "PublicTest", "PrivateTest")}
    labels = {s: np.where(rng.random(300) < 0.7, z.argmax(1), rng.integers(0, 7, 300)) for s, z in base.items()}
    ids = {s: np.array([f"{s}-{i}" for i in range(300)]) for s in base}
    producer = dict(label_space=tuple("abcdefg"), branch="face/x", modality="face", dataset="d", fit_splits=[],
                    command="c")

    def evaluate(shift, write=("PublicTest", "PrivateTest")):
        splits = {s: SplitLogits(ids[s], labels[s], base[s] + np.float32(shift) * np.sin(np.arange(7) + i))
                  for i, s in enumerate(base)}
        return calibrate(tmp_path, splits, calibration_split="PublicTest", write=write, **producer)

    evaluate(0.0)
    first = {s: load_run(tmp_path, s) for s in ("PublicTest", "PrivateTest")}
    again = evaluate(3e-6, write=("PublicTest", "PrivateTest", "Training"))
    for s in ("PublicTest", "PrivateTest"):
        assert load_run(tmp_path, s).fingerprint() == first[s].fingerprint()
        assert again[s].temperature == first[s].temperature
    assert load_run(tmp_path, "Training").temperature == first["PublicTest"].temperature
    retrained = evaluate(0.05)
    assert retrained["PublicTest"].fingerprint() != first["PublicTest"].fingerprint()
    assert retrained["PublicTest"].temperature != first["PublicTest"].temperature


def test_temperature_and_bias_recover_a_known_class_bias():
    from fer_core.calibration import fit_calibrator

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (20000, 7))
    true_bias = np.array([0.8, -1.0, 0.0, 0.3, -0.4, 0.6, -0.3])
    p = softmax(logits / 1.5 + true_bias, axis=1)
    labels = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
    cal = fit_calibrator("temperature+bias", logits, labels)
    assert cal.kind == "temperature+bias" and cal.temperature == pytest.approx(1.5, rel=0.05)
    np.testing.assert_allclose(np.subtract(cal.bias, np.mean(cal.bias)), true_bias - true_bias.mean(), atol=0.08)
    np.testing.assert_allclose(cal.probs(logits).sum(1), 1.0)


def test_auto_calibration_picks_isotonic_where_no_temperature_fits_and_round_trips():
    """Too sure at middling confidence, unsure at high confidence: no temperature (nor bias) fixes that shape;
    per-class isotonic maps do, and auto finds it on cross-fitted folds of the fit split alone."""
    from fer_core.calibration import Calibrator, choose_calibrator

    rng = np.random.default_rng(4)
    logits = rng.normal(0, 1.5, (6000, 7))
    p = softmax(logits, axis=1)
    top = p.max(1, keepdims=True)
    bent = np.where(p == top, np.sqrt(top), p * (1 - np.sqrt(top)) / (1 - top))
    labels = (bent.cumsum(1) > rng.random((len(p), 1))).argmax(1)
    cal, held, info = choose_calibrator(logits, labels, "auto")
    assert cal.kind == "isotonic" and info["choice"] == "auto"
    compared = info["compared"]
    assert compared["isotonic"] < min(compared["temperature"], compared["temperature+bias"])
    assert held.shape == logits.shape and not np.allclose(held, cal.probs(logits))  # held out, not in-sample
    again = Calibrator.from_json(cal.temperature, cal.to_json(), 7)
    np.testing.assert_array_equal(again.probs(logits), cal.probs(logits))
    assert Calibrator.from_json(2.0, None).kind == "temperature"
    for bad in ({"kind": "platt"}, {"kind": "temperature+bias", "bias": [0.0] * 6}):
        with pytest.raises(ValueError):
            Calibrator.from_json(1.0, bad, 7)
