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
