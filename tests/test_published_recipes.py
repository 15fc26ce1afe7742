"""Every published face model's recipe file resolves to exactly the config its committed run was trained with."""

import argparse
import json
from pathlib import Path

import pytest

from fer_core import zoo
from fer_face.config import list_recipes, resolve_config, with_defaults

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("model", "train", "augment", "eval")


def recipe_args(name: str) -> argparse.Namespace:
    return argparse.Namespace(recipe=name, set=[], backbone=None, pretrained=None, init_from=None)


def committed_runs_with_a_recipe_file() -> list[Path]:
    names = set(list_recipes())
    runs = []
    for config_path in sorted((ROOT / "results").rglob("config.json")):
        recipe = json.loads(config_path.read_text()).get("config", {}).get("recipe")
        if recipe in names and "/" in recipe:
            runs.append(config_path.parent)
    return runs


def test_recipe_names_include_the_dataset_folder():
    names = list_recipes()
    assert {"paper", "improved", "fer2013/vgg48_slim", "fer2013/vgg48_slim_seed0"} <= set(names)
    cfg = resolve_config(recipe_args("fer2013/vgg48_slim"))
    assert cfg["recipe"] == "fer2013/vgg48_slim" and cfg["model"]["backbone"] == "vgg48_slim"
    assert cfg["train"]["epochs"] == 45


@pytest.mark.parametrize("run", committed_runs_with_a_recipe_file(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_committed_run_matches_its_recipe(run):
    saved = json.loads((run / "config.json").read_text())
    resolved = resolve_config(recipe_args(saved["config"]["recipe"]))
    for section in SECTIONS:
        assert with_defaults(saved["config"])[section] == resolved[section], section
    assert saved["command"].startswith(f"fer face train --recipe {saved['config']['recipe']} ")


def test_shipped_face_models_name_a_recipe_file_and_its_command():
    for entry in zoo.load_manifest(zoo.SHIPPED_DIR).models:
        if entry.branch == "face":
            assert entry.recipe in list_recipes()
            assert f"--recipe {entry.recipe}" in entry.command and "--data data/" in entry.command


def test_compile_flag_reaches_the_training_loop(monkeypatch, tmp_path):
    import fer_face.train
    from fer_core.cli import main

    seen = {}
    monkeypatch.setattr(fer_face.train, "train", lambda cfg, **kw: seen.update(kw))
    assert main(["face", "train", "--recipe", "fer2013/vgg48_slim", "--data", "synthetic", "--out",
                 str(tmp_path / "run"), "--compile"]) == 0
    assert seen["compile_model"] is True
    assert main(["face", "train", "--recipe", "fer2013/vgg48_slim", "--data", "synthetic", "--out",
                 str(tmp_path / "run")]) == 0
    assert seen["compile_model"] is False


def test_a_resumed_run_is_published_with_the_command_that_makes_it_in_one_go():
    recorded = ("fer face train --recipe paper --backbone efficientnet_b2 --data /mnt/datasets/fer2013.zip "
                "--out runs/paper/efficientnet_b2 --no-progress --resume --compile")
    assert zoo.as_user_command(recorded) == ("fer face train --recipe paper --backbone efficientnet_b2 "
                                             "--data data/fer2013.zip --out runs/paper/efficientnet_b2 --compile")
