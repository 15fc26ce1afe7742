"""Every bad input is refused with one clear line (exit 2) and nothing is written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ensemble.synthetic import synthetic_branch, synthetic_samples, write_run
from fer_core.artifact import artifact_path, load_run
from fer_core.cli import main as fer
from fer_core.labels import FER7

RENAMED = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")


@pytest.fixture()
def samples():
    return synthetic_samples({"PublicTest": 120, "PrivateTest": 120}, seed=11)


def _branch(root, samples, name, seed, **kw):
    return write_run(root / name.replace("/", "_"), synthetic_branch(samples, name=name, modality=kw.pop("modality", "face"),
                                                                     strength=1.5, seed=seed, **kw))


@pytest.fixture()
def good(tmp_path, samples):
    return [_branch(tmp_path, samples, "face/a", 1), _branch(tmp_path, samples, "face/b", 2)]


def _refused(capsys, tmp_path, runs, *extra, command="fuse", expect=()):
    out = tmp_path / "out"
    argv = ["ensemble", command, *sum((["--branch", str(r)] for r in runs), []), "--out", str(out), *extra]
    assert fer(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for text in expect:
        assert text in err, (text, err)
    assert not out.exists(), "a refused fusion must write nothing"
    return err


def _edit_json(path, edit):
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj))


def test_ids_that_differ_are_counted_and_refused_unless_allow_partial(tmp_path, samples, good, capsys):
    odd = synthetic_samples({"PublicTest": 120, "PrivateTest": 120}, seed=11)
    ids, labels = odd["PrivateTest"]
    ids = ids.copy()
    ids[:5] = [f"extra_{i}" for i in range(5)]  # 5 ids the others lack, and lacks 5 of theirs
    odd["PrivateTest"] = (ids, labels)
    c = write_run(tmp_path / "c", synthetic_branch(odd, name="face/c", modality="face", strength=1.5, seed=3))
    err = _refused(capsys, tmp_path, [*good, c], expect=("5 ids not in", "lacks 5 of its 120", "115 ids are shared",
                                                         "--allow-partial"))
    assert "PrivateTest" in err
    assert fer(["ensemble", "fuse", *sum((["--branch", str(r)] for r in [*good, c]), []), "--out",
                str(tmp_path / "partial"), "--allow-partial"]) == 0
    fused = load_run(tmp_path / "partial", "PrivateTest")
    assert fused.n == 115 and not np.isin([f"extra_{i}" for i in range(5)], fused.ids).any()
    metrics = json.loads((tmp_path / "partial" / "metrics.json").read_text())
    assert any("5 of 120 ids" in n for n in metrics["notes"])


def test_label_space_without_declared_mapping_is_refused(tmp_path, samples, good, capsys):
    other = _branch(tmp_path, samples, "mystery/x", 4, modality="mystery", label_space=RENAMED)
    _refused(capsys, tmp_path, [good[0], other], expect=("['anger', 'joy', 'sadness']", "no mapping is declared",
                                                          "--label-map", "[mystery]"))
    # declaring it (and a typo in a declaration) through --label-map FILE.toml
    bad_map = tmp_path / "typo.toml"
    bad_map.write_text('[mystery]\nanger = "angry"\njoy = "hapy"\nsadness = "sad"\n')
    _refused(capsys, tmp_path, [good[0], other], "--label-map", str(bad_map), expect=("'joy' to 'hapy'",))
    label_map = tmp_path / "map.toml"
    label_map.write_text('[mystery]\nanger = "angry"\njoy = "happy"\nsadness = "sad"\n')
    out = tmp_path / "mapped"
    assert fer(["ensemble", "fuse", "--branch", str(good[0]), "--branch", str(other), "--label-map", str(label_map),
                "--out", str(out)]) == 0
    fusion = json.loads((out / "fusion.json").read_text())
    assert fusion["label_maps"]["mystery/x"]["mapping"]["joy"] == "happy"
    assert str(label_map) in fusion["label_maps"]["mystery/x"]["declared_by"]


@pytest.mark.parametrize("bad", ["nan", "inf", "sum"])
def test_non_finite_or_unnormalised_probabilities_are_refused(tmp_path, good, capsys, bad):
    path = artifact_path(good[1], "PrivateTest")
    text = path.read_text()

    def edit(obj):
        row = obj["samples"]["probs"][3]
        if bad == "sum":
            obj["samples"]["probs"][3] = [v * 1.5 for v in row]
        else:
            row[0] = float("nan") if bad == "nan" else float("inf")

    obj = json.loads(text)
    edit(obj)
    path.write_text(json.dumps(obj))  # json writes NaN/Infinity tokens, as a careless producer might
    expect = ("sum to", "not 1") if bad == "sum" else ("NaN/inf",)
    _refused(capsys, tmp_path, good, expect=(str(path), *expect))


def test_unknown_format_version_is_refused(tmp_path, good, capsys):
    path = artifact_path(good[0], "PublicTest")
    _edit_json(path, lambda o: o.update(version=2))
    _refused(capsys, tmp_path, good, expect=("unknown fer-predictions version 2",))


@pytest.mark.parametrize("how", ["calibrated", "fit"])
def test_producer_that_saw_the_eval_split_is_refused(tmp_path, samples, good, capsys, how):
    kw = {"calibration_split": "PrivateTest"} if how == "calibrated" else {"fit_splits": ["Training", "PrivateTest"]}
    leaky = _branch(tmp_path, samples, "face/leaky", 5, **kw)
    _refused(capsys, tmp_path, [good[0], leaky], expect=("leakage", "PrivateTest"))
    _refused(capsys, tmp_path, [leaky], "--method", "mean", command="ablate", expect=("leakage",))
    assert fer(["ensemble", "conformal", "--run", str(leaky), "--out", str(tmp_path / "out")]) == 2
    assert "leakage" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_fitting_on_the_eval_split_is_refused(tmp_path, good, capsys):
    _refused(capsys, tmp_path, good, "--fit-split", "PrivateTest", expect=("leakage",))


def test_same_samples_in_fit_and_eval_split_are_refused(tmp_path, good, capsys):
    ev = load_run(good[0], "PrivateTest")
    fit = load_run(good[0], "PublicTest")
    fit.ids = fit.ids.copy()
    fit.ids[:4] = ev.ids[:4]
    fit.save(artifact_path(good[0], "PublicTest"))
    _refused(capsys, tmp_path, good, expect=("4 sample ids are in both",))


def test_branches_that_disagree_on_labels_are_refused(tmp_path, samples, good, capsys):
    other = dict(samples)
    ids, labels = other["PrivateTest"]
    other["PrivateTest"] = (ids, (labels + 1) % 7)
    c = write_run(tmp_path / "c", synthetic_branch(other, name="face/c", modality="face", strength=1.5, seed=3))
    _refused(capsys, tmp_path, [good[0], c], expect=("disagree on the label",))


def test_missing_artifact_and_non_run_dir_are_refused(tmp_path, good, capsys):
    _refused(capsys, tmp_path, [good[0], tmp_path / "nowhere"], expect=("not a run directory",))
    artifact_path(good[1], "PublicTest").unlink()
    _refused(capsys, tmp_path, good, expect=("no predictions for split 'PublicTest'",))
    assert fer(["ensemble", "fuse", "--branch", str(good[0]), "--out", str(tmp_path / "x"),
                "--eval-split", "test"]) == 2
    assert "no predictions for split 'test'" in capsys.readouterr().err


def test_existing_output_is_not_overwritten_without_flag(tmp_path, good, capsys):
    out = tmp_path / "out"
    args = ["ensemble", "fuse", *sum((["--branch", str(r)] for r in good), []), "--out", str(out), "--method", "mean"]
    assert fer(args) == 0
    before = (out / "fusion.json").read_text()
    assert fer(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "fusion.json").read_text() == before
    assert fer(args + ["--overwrite"]) == 0
    assert fer(["ensemble", "fuse", "--branch", str(good[0]), "--out", str(good[0])]) == 2


def test_label_space_option_and_uncovered_classes(tmp_path, samples, capsys):
    """A branch lacking a target class is neutral about it (uniform share), not a veto."""
    six = FER7[:6]
    no_neutral = synthetic_samples({"PublicTest": 120, "PrivateTest": 120}, n_classes=6, seed=2)
    a = write_run(tmp_path / "six", synthetic_branch(no_neutral, name="face/six", modality="face", strength=2.0,
                                                     seed=1, label_space=six))
    from ensemble.inputs import load_inputs

    inputs = load_inputs([a])
    p = inputs.eval.probs[0]
    np.testing.assert_allclose(p[:, FER7.index("neutral")], 1 / 7)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert inputs.branches[0].mapping.uncovered == ("neutral",)
    # a target space that the branch covers fully
    out = tmp_path / "out6"
    assert fer(["ensemble", "fuse", "--branch", str(a), "--label-space", ",".join(six), "--out", str(out)]) == 0
    assert load_run(out, "PrivateTest").label_space == six
