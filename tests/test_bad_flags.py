"""Out-of-range numeric flags and recipe fields are refused before any work: one line, exit 2, nothing written.

``--data`` names a file that does not exist, so a check that ran only after loading the data would fail
with a different message.
"""

from __future__ import annotations

import pytest

from fer_core.cli import main
from fer_core.recipe import check_recipe

FACE = ["face", "train", "--backbone", "mobilenetv2_100"]
LANDMARKS = ["landmarks", "train"]
AUDIO = ["audio", "train"]


@pytest.mark.parametrize("argv, message", [
    (FACE + ["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
    (FACE + ["--epochs", "-1"], "--epochs -1: must be an integer >= 1"),
    (FACE + ["--lr", "nan"], "--lr nan: must be a finite number >= 0"),
    (FACE + ["--lr", "inf"], "--lr inf: must be a finite number >= 0"),
    (FACE + ["--lr", "-1"], "--lr -1.0: must be a finite number >= 0"),
    (FACE + ["--batch-size", "0"], "--batch-size 0: must be an integer >= 2"),
    (FACE + ["--input-size", "16"], "--input-size 16: must be an integer >= 32"),
    (FACE + ["--stop-after", "0"], "--stop-after 0: must be an integer >= 1"),
    (FACE + ["--set", "train.weight_decay=-0.1"], "--set train.weight_decay=-0.1: must be a finite number >= 0"),
    (FACE + ["--set", "train.ema_decay=1.5"], "--set train.ema_decay=1.5: must be in [0, 1)"),
    (FACE + ["--set", "augment.erase_prob=nan"], "--set augment.erase_prob=nan: must be in [0, 1]"),
    (FACE + ["--set", "model.stem_stride=3"], "--set model.stem_stride=3: choose from 1, 2"),
    (LANDMARKS + ["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
    (LANDMARKS + ["--workers", "0"], "--workers 0: must be an integer >= 1"),
    (LANDMARKS + ["--set", "mlp.dropout=1.0"], "--set mlp.dropout=1.0: must be in [0, 1)"),
    (LANDMARKS + ["--set", "logreg.C=[0.1, -1]"], "--set logreg.C=[0.1, -1]: each element must be a finite number > 0"),
    (AUDIO + ["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
    (AUDIO + ["--set", "train.lr=nan"], "--set train.lr=nan: must be a finite number > 0"),
    (AUDIO + ["--stop-after", "-3"], "--stop-after -3: must be an integer >= 1"),
    (["audio", "cv", "--folds", "0"], "--folds 0: must be in [2, 12]"),
    (["face", "compare", "--train-missing", "--runs", "{tmp}/out", "--set", "train.label_smoothing=1"],
     "--set train.label_smoothing=1: must be in [0, 1)"),
])
def test_out_of_range_value_is_refused_before_any_work(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--runs" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    code = main([*argv, "--data", str(tmp_path / "missing.zip")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_landmarks_extract_refuses_zero_workers(tmp_path, capsys):
    assert main(["landmarks", "extract", "--workers", "0", "--data", str(tmp_path / "missing.zip")]) == 2
    assert capsys.readouterr().err == "error: --workers 0: must be an integer >= 1\n"


def test_recipe_file_field_out_of_range_names_the_file_and_field(tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[train]\nepochs = 0\n")
    code = main([*FACE, "--recipe", str(recipe), "--data", str(tmp_path / "missing.zip"),
                 "--out", str(tmp_path / "out")])
    assert code == 2 and capsys.readouterr().err == f"error: {recipe}: train.epochs=0: must be an integer >= 1\n"
    assert not (tmp_path / "out").exists()


def test_built_in_recipes_and_defaults_are_in_range():
    from fer_audio import config as audio_config
    from fer_face import config as face_config
    from fer_face.landmarks import config as landmark_config

    for name in face_config.list_recipes():
        face_config.load_recipe(name)
    for name in audio_config.list_recipes():
        audio_config.load_recipe(name)
    check_recipe(landmark_config.default_config(), landmark_config.SCHEMA, {}, "defaults",
                 ranges=landmark_config.RANGES)
