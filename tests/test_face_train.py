import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from fer_core import artifact
from fer_core.errors import UserError
from fer_core.checkpoint import load_checkpoint
from fer_face.config import resolve_config
from fer_face.compare import collect_row, to_markdown
from fer_face.config import apply_overrides, load_recipe
from fer_face.train import train
from tests.cli import fer

REQUIRED_METRICS = {"split", "n", "accuracy", "macro_f1", "nll", "ece", "ece_uncalibrated", "temperature", "command"}
FAST = ["train.batch_size=64", "model.head_hidden=64", "eval.tta_flip=true", "model.drop_path_rate=0.0"]
TINY = "vgg48_tiny"  # a 0.2M-parameter registered backbone: every loop path, a fraction of the time


def cfg_for(epochs=1, extra=()):
    cfg = apply_overrides(load_recipe("improved"), [*FAST, f"train.epochs={epochs}", "model.input_size=48", *extra])
    cfg["model"]["backbone"] = TINY
    return cfg


def test_one_epoch_end_to_end_run_directory(tmp_path):
    out = tmp_path / "run"
    r = fer("face", "train", "--backbone", TINY, "--data", "synthetic", "--epochs", "1", "--input-size", "48",
            "--set", "model.drop_path_rate=0", "--set", "train.batch_size=64", "--set", "model.head_hidden=64",
            "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    for name in ("config.json", "history.json", "metrics.json", "best.pt", "last.pt", "curves.png", "reliability.png",
                 "predictions/PublicTest.json", "predictions/PrivateTest.json"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert REQUIRED_METRICS <= set(m)
    assert m["split"] == "PrivateTest" and m["n"] == 210 and m["dataset"] == "synthetic" and m["synthetic"]
    assert m["command"].startswith("fer face train --backbone vgg48_tiny")
    test = artifact.load_run(out, "PrivateTest")
    test.check_no_leakage()
    assert test.modality == "face" and test.branch == "face/vgg48_tiny" and test.calibration_split == "PublicTest"
    assert test.n == 210 and test.logits is not None
    np.testing.assert_allclose(test.probs.sum(1), 1, atol=1e-6)
    assert m["temperature"] == pytest.approx(test.temperature)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["train"]["epochs"] == 1 and cfg["config"]["model"]["input_size"] == 48
    # a finished run is never clobbered
    again = fer("face", "train", "--backbone", TINY, "--data", "synthetic", "--out", str(out))
    assert again.returncode == 2 and "finished run" in again.stderr and "--overwrite" in again.stderr


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A finished one-epoch run (not evaluated) that tests read and warm-restart from, never change."""
    return train(cfg_for(epochs=1), data="synthetic", out=tmp_path_factory.mktemp("one_epoch") / "run", command="t",
                 progress=False, evaluate=False)


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    cfg = cfg_for(epochs=2)
    full = train(cfg, data="synthetic", out=tmp_path / "full", command="t", progress=False, evaluate=False)
    part = tmp_path / "part"
    train(cfg, data="synthetic", out=part, command="t", progress=False, stop_after=1, evaluate=False)
    assert json.loads((part / "history.json").read_text())[-1]["epoch"] == 1
    train(cfg, data="synthetic", out=part, command="t", progress=False, resume=True, evaluate=False)
    a = torch.load(full / "last.pt", weights_only=True)
    b = torch.load(part / "last.pt", weights_only=True)
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0, msg=k)
    ha, hb = json.loads(a["history_json"]), json.loads(b["history_json"])
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]


def test_ddp_two_gloo_processes_one_run_directory(tmp_path):
    out = tmp_path / "ddp"
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "fer_core.cli",
         "face", "train", "--backbone", TINY, "--data", "synthetic", "--epochs", "1", "--input-size", "48",
         "--set", "model.drop_path_rate=0", "--set", "train.batch_size=64", "--set", "model.head_hidden=64",
         "--set", "train.ema_decay=0.9", "--out", str(out),
         "--no-progress", "--device", "cpu"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=240,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 210
    assert len(json.loads((out / "history.json").read_text())) == 1
    assert len(list(out.glob("*.tmp"))) == 0
    assert "ema" in torch.load(out / "last.pt", weights_only=True)  # the weight average works under DDP too


def test_nan_loss_stops_with_clear_message_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "nan"
    train(cfg_for(epochs=2), data="synthetic", out=out, command="t", progress=False, stop_after=1, evaluate=False)
    good = torch.load(out / "last.pt", weights_only=True)
    # Resume the same run; epoch 2 sees non-finite inputs, as a diverged or corrupted batch would produce.
    monkeypatch.setattr("fer_face.train.augment", lambda xb, cfg, gen: xb * float("nan"))
    with pytest.raises(UserError, match="NaN/inf in epoch 2"):
        train(cfg_for(epochs=2), data="synthetic", out=out, command="t", progress=False, resume=True, evaluate=False)
    kept = torch.load(out / "last.pt", weights_only=True)
    assert kept["epoch"] == 1
    for k in good["model"]:
        torch.testing.assert_close(kept["model"][k], good["model"][k], rtol=0, atol=0)


def test_bad_inputs_give_one_line_errors(tmp_path):
    r = fer("face", "train", "--backbone", "resnet9000", "--data", "synthetic", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "unknown backbone 'resnet9000'" in r.stderr and "mobilenetv2_100" in r.stderr
    assert "Traceback" not in r.stderr
    recipe = tmp_path / "r.toml"
    recipe.write_text("[train]\nepochs = 1\nlearning_rate = 0.1\n[model]\nwidth = 3\n")
    r = fer("face", "train", "--backbone", "mobilenetv2_100", "--recipe", str(recipe), "--data", "synthetic",
            "--out", str(tmp_path / "y"))
    assert r.returncode == 2 and "model.width" in r.stderr
    with pytest.raises(UserError, match="train.learning_rate"):
        load_recipe(str(recipe))
    with pytest.raises(UserError, match="train.lr"):
        apply_overrides(load_recipe("paper"), ["train.lr=fast"])


def test_checkpoint_from_another_backbone_or_class_count_is_refused(tmp_path, one_epoch_run):
    out = one_epoch_run
    with pytest.raises(UserError, match="is for backbone 'vgg48_tiny', not 'vgg48_half'"):
        load_checkpoint(out / "best.pt", backbone="vgg48_half")
    with pytest.raises(UserError, match="has 7 classes, expected 8"):
        load_checkpoint(out / "best.pt", num_classes=8)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a loadable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_recipes_differ_where_the_paper_says():
    paper, improved = load_recipe("paper"), load_recipe("improved")
    assert paper["train"]["epochs"] == 100 and paper["augment"]["hflip"] is False and not paper["eval"]["tta_flip"]
    assert improved["train"]["label_smoothing"] > 0 and improved["train"]["optimizer"] == "adamw"
    assert improved["eval"]["tta_flip"] and improved["augment"]["hflip"]


def test_warm_restart_starts_from_the_parent_weights_with_a_fresh_schedule(tmp_path, one_epoch_run):
    parent = one_epoch_run
    # lr 0 keeps every parameter where it started, so the child's weights must be the parent's best.pt exactly
    child_cfg = cfg_for(epochs=1, extra=["train.lr=0.0", "train.scheduler=none", f"train.init_from={parent / 'best.pt'}"])
    child = tmp_path / "child"
    train(child_cfg, data="synthetic", out=child, command="child", progress=False)
    a = torch.load(parent / "best.pt", weights_only=True)["model"]
    b = torch.load(child / "last.pt", weights_only=True)
    assert b["epoch"] == 1 and len(json.loads(b["history_json"])) == 1
    params = [k for k in a if "running_" not in k and "num_batches" not in k]
    assert len(params) > 10
    for k in params:
        torch.testing.assert_close(b["model"][k], a[k], rtol=0, atol=0, msg=k)
    assert json.loads((child / "config.json").read_text())["config"]["train"]["init_from"] == str(parent / "best.pt")
    # the lineage reaches the metrics and the comparison table: 1 epoch of parent weights + 1 epoch here
    m = json.loads((child / "metrics.json").read_text())
    assert m["prior_epochs"] == 1 and m["epochs"] == 1 and m["warm_start_command"] == "t"
    row = collect_row(TINY, child)
    assert row["prior_epochs"] == 1
    md = to_markdown([row])
    assert "| 1+1 |" in md and "warm restart of the run made by `t`" in md


def test_warm_restart_from_a_run_directory_and_bad_parents(tmp_path, one_epoch_run):
    parent = one_epoch_run
    args = type("A", (), dict(recipe="improved", set=[], backbone=TINY, init_from=str(parent)))()
    assert resolve_config(args)["train"]["init_from"] == str(parent / "best.pt")
    r = fer("face", "train", "--backbone", "vgg48_half", "--data", "synthetic", "--init-from", str(parent),
            "--out", str(tmp_path / "b0"), "--no-progress")
    assert r.returncode == 2 and "is for backbone 'vgg48_tiny', not 'vgg48_half'" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "b0" / "last.pt").exists()
    r = fer("face", "train", "--backbone", TINY, "--data", "synthetic", "--init-from",
            str(tmp_path / "nowhere.pt"), "--out", str(tmp_path / "x"), "--no-progress")
    assert r.returncode == 2 and "nowhere.pt" in r.stderr and "Traceback" not in r.stderr


def test_lineage_of_a_parent_checkpoint_written_before_the_lineage_field(tmp_path):
    from fer_face.lineage import epochs_behind

    # such a checkpoint's meta has no prior_epochs; its run's metrics.json still says how many epochs preceded it
    assert epochs_behind({"epoch": 36}, tmp_path / "best.pt") == 36
    (tmp_path / "metrics.json").write_text(json.dumps({"prior_epochs": 42}))
    assert epochs_behind({"epoch": 36}, tmp_path / "best.pt") == 78
    # a checkpoint whose ancestors' lineage was incomplete when it started: the re-derived metrics.json wins
    assert epochs_behind({"epoch": 36, "prior_epochs": 5}, tmp_path / "best.pt") == 78
    (tmp_path / "metrics.json").write_text("not json")
    assert epochs_behind({"epoch": 36}, tmp_path / "best.pt") == 36
    assert epochs_behind({"epoch": 36, "prior_epochs": 5}, tmp_path / "best.pt") == 41  # no metrics: the checkpoint's word


def test_weight_average_is_what_validation_keeps_and_resume_restores(tmp_path):
    cfg = cfg_for(epochs=2, extra=["train.ema_decay=0.9"])
    full = train(cfg, data="synthetic", out=tmp_path / "full", command="t", progress=False, evaluate=False)
    last = torch.load(full / "last.pt", weights_only=True)
    assert set(last["ema"]) == set(last["model"])
    params = [k for k in last["model"] if last["model"][k].is_floating_point()]
    assert any(not torch.equal(last["ema"][k], last["model"][k]) for k in params)  # the average lags the weights
    part = tmp_path / "part"
    train(cfg, data="synthetic", out=part, command="t", progress=False, stop_after=1, evaluate=False)
    after_one = torch.load(part / "last.pt", weights_only=True)
    best = torch.load(part / "best.pt", weights_only=True)  # epoch 1 is the best of one epoch: the average is kept
    assert best["meta"]["epoch"] == 1
    for k in params:
        torch.testing.assert_close(best["model"][k], after_one["ema"][k], rtol=0, atol=0, msg=k)
    train(cfg, data="synthetic", out=part, command="t", progress=False, resume=True, evaluate=False)
    resumed = torch.load(part / "last.pt", weights_only=True)
    for k in last["ema"]:
        torch.testing.assert_close(resumed["ema"][k], last["ema"][k], rtol=0, atol=0, msg=k)


def test_weight_average_warm_up_follows_the_weights_early_and_resumes_exactly(tmp_path):
    def ema_distance(run):
        last = torch.load(run / "last.pt", weights_only=True)
        keys = [k for k in last["model"] if last["model"][k].is_floating_point()]
        return sum((last["ema"][k] - last["model"][k]).float().norm() for k in keys).item(), last

    fixed = train(cfg_for(extra=["train.ema_decay=0.999"]), data="synthetic", out=tmp_path / "fixed", command="t",
                  progress=False, evaluate=False)
    warm_cfg = cfg_for(epochs=2, extra=["train.ema_decay=0.999", "train.ema_warmup_power=0.75"])
    warm = train(warm_cfg, data="synthetic", out=tmp_path / "warm", command="t", progress=False, evaluate=False,
                 stop_after=1)
    # after one short epoch a fixed 0.999 has barely left the random start; the warmed-up average is near the weights
    assert ema_distance(warm)[0] < 0.5 * ema_distance(fixed)[0]
    train(warm_cfg, data="synthetic", out=warm, command="t", progress=False, resume=True, evaluate=False)
    whole = train(warm_cfg, data="synthetic", out=tmp_path / "whole", command="t", progress=False, evaluate=False)
    resumed, uninterrupted = ema_distance(warm)[1], ema_distance(whole)[1]
    for k in uninterrupted["ema"]:
        torch.testing.assert_close(resumed["ema"][k], uninterrupted["ema"][k], rtol=0, atol=0, msg=k)


def test_bad_weight_average_decay_is_refused_before_any_work(tmp_path):
    with pytest.raises(UserError, match=r"train.ema_decay=1.0: must be in \[0, 1\)"):
        train(cfg_for(extra=["train.ema_decay=1.0"]), data="synthetic", out=tmp_path / "r", command="t", progress=False)
    assert not (tmp_path / "r").exists()


def test_resume_refuses_a_command_that_drops_the_weight_average(tmp_path):
    out = tmp_path / "r"
    train(cfg_for(epochs=2, extra=["train.ema_decay=0.9"]), data="synthetic", out=out, command="t", progress=False,
          stop_after=1, evaluate=False)
    with pytest.raises(UserError, match=r"different config \(train.ema_decay: run has 0.9, command gives 0.0\)"):
        train(cfg_for(epochs=2), data="synthetic", out=out, command="t", progress=False, resume=True, evaluate=False)


def test_resume_takes_another_calibrator_choice_and_evaluates_with_it(tmp_path):
    out = tmp_path / "r"
    train(cfg_for(epochs=2), data="synthetic", out=out, command="t", progress=False, stop_after=1, evaluate=False)
    train(cfg_for(epochs=2, extra=["eval.calibration=temperature+bias"]), data="synthetic", out=out, command="t",
          progress=False, resume=True)
    saved = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["eval"]["calibration"] == "temperature+bias"
    assert metrics["calibration"]["kind"] == "temperature+bias"


@pytest.mark.parametrize("validate_tta, views", [(True, (True, 2)), (False, (False, 0))])
def test_epochs_are_picked_on_the_recipe_views_or_the_plain_view(tmp_path, monkeypatch, validate_tta, views):
    import fer_face.train

    seen = []
    real = fer_face.train.predict_logits

    def recording(*args, **kw):
        seen.append((kw["tta_flip"], kw["tta_shift_px"]))
        return real(*args, **kw)

    monkeypatch.setattr(fer_face.train, "predict_logits", recording)
    cfg = cfg_for(extra=["eval.tta_shift_px=2", f"train.validate_tta={str(validate_tta).lower()}"])
    train(cfg, data="synthetic", out=tmp_path / "r", command="t", progress=False, evaluate=False)
    assert seen == [views]
