"""Every ``fer`` command explains itself in --help, and building the parser stays light (no torch import)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fer_core.cli import build_parser, main, subcommands

COMMANDS = [(path, parser) for path, parser, _ in subcommands(build_parser())]


def test_the_command_tree_is_walked():
    paths = {path for path, _ in COMMANDS}
    assert {"fer predict", "fer live", "fer face compare", "fer audio cv", "fer models add-fusion"} <= paths


@pytest.mark.parametrize("path, parser", COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_has_a_description_and_every_option_a_help(path, parser):
    assert parser.description and parser.description.strip(), f"{path}: no description"
    undocumented = [action.option_strings[0] for action in parser._actions
                    if action.option_strings and action.dest != "help" and not action.help]
    assert not undocumented, f"{path}: options without help: {undocumented}"


def test_a_command_registered_with_help_only_shows_it_as_its_description(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["face", "--help"])
    assert exit_info.value.code == 0
    assert "Face-appearance branch: train / evaluate / compare / predict / crop." in capsys.readouterr().out


def test_the_device_flag_says_the_same_everywhere():
    helps = {action.help for _, parser in COMMANDS for action in parser._actions if "--device" in action.option_strings}
    assert helps == {"auto (CUDA when available, the default), cpu, cuda or cuda:N"}


def test_building_the_parser_imports_no_torch():
    code = "import sys; from fer_core.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_predicting_a_photo_loads_neither_the_video_stack_nor_the_fitting_one(tmp_path):
    """PyAV/matplotlib (videos) and scipy.optimize (fitting a fusion) cost seconds at start-up that a photo never uses."""
    from PIL import Image
    from skimage import data

    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(photo)
    heavy = ("ensemble.video", "ensemble.video_output", "matplotlib", "scipy.optimize")
    code = (f"import sys; from fer_core.cli import main; code = main(['predict', {str(photo)!r}, '--no-progress']); "
            f"print(code, [m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []", out
