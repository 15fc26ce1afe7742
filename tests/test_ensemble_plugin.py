"""A separately installed branch plug-in (tests/plugin_example) is listed and fused.

The package is pip-installed into a temporary --target directory that only this test's
subprocesses see (PYTHONPATH), so the project's virtual environment is never modified.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ensemble.synthetic import synthetic_branch, synthetic_samples, write_run

PLUGIN_SRC = Path(__file__).parent / "plugin_example"


def _setuptools_builds_wheels_offline() -> bool:
    if importlib.util.find_spec("setuptools") is None:
        return False
    if importlib.util.find_spec("wheel") is not None:
        return True
    import setuptools

    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)  # bdist_wheel moved into setuptools


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plugin")
    src = root / "src"
    # build from a copy: an in-tree build would leave build/ and *.egg-info in the repository
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = root / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check",
           "--target", str(target), str(src)]
    if _setuptools_builds_wheels_offline():
        cmd[4:4] = ["--no-build-isolation", "--no-index"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        if "--no-index" not in cmd and "No matching distribution found for setuptools" in done.stderr:
            pytest.skip("building the example plug-in needs setuptools from the package index (offline, and this "
                        "venv's setuptools cannot build wheels: pip install wheel)")
        pytest.fail(f"pip could not install the example plug-in:\n{done.stderr[-3000:]}")
    assert (target / "fer_thermal_example" / "branch.py").is_file()
    yield target
    shutil.rmtree(root, ignore_errors=True)


def _run(args, *, plugin: Path | None, cwd: Path):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if plugin is not None:
        env["PYTHONPATH"] = str(plugin)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_plugin_is_listed_and_fused(plugin_path, tmp_path):
    listed = _run(["-m", "fer_core.cli", "ensemble", "list-branches", "--json"], plugin=plugin_path, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    branches = {b["name"]: b for b in json.loads(listed.stdout)["branches"]}
    thermal = branches["thermal"]
    assert thermal["modality"] == "thermal" and thermal["class"] == "fer_thermal_example.branch:ThermalBranch"
    assert thermal["label_map"] == {"anger": "angry", "joy": "happy", "sadness": "sad", "contempt": None}
    assert "face" in branches  # the project's own plug-ins are still there
    text = _run(["-m", "fer_core.cli", "ensemble", "list-branches"], plugin=plugin_path, cwd=tmp_path).stdout
    assert "thermal" in text and "joy->happy" in text and "contempt->(dropped)" in text

    # a face branch, then the plug-in's own tool writes its run for the same samples
    samples = synthetic_samples({"PublicTest": 600, "PrivateTest": 600}, seed=8)
    face = write_run(tmp_path / "face", synthetic_branch(samples, name="face/sim", modality="face", strength=1.2, seed=1))
    sim = _run(["-m", "fer_thermal_example.simulate", "--like", str(face), "--out", str(tmp_path / "thermal")],
               plugin=plugin_path, cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr

    # without the plug-in installed its labels have no declared mapping: refused, nothing written
    refused = _run(["-m", "fer_core.cli", "ensemble", "fuse", "--branch", str(face), "--branch", str(tmp_path / "thermal"),
                    "--out", str(tmp_path / "nope")], plugin=None, cwd=tmp_path)
    assert refused.returncode == 2 and "no mapping is declared" in refused.stderr, refused.stderr
    assert not (tmp_path / "nope").exists()

    fused = _run(["-m", "fer_core.cli", "ensemble", "fuse", "--branch", str(face), "--branch", str(tmp_path / "thermal"),
                  "--method", "logpool", "--out", str(tmp_path / "fused")], plugin=plugin_path, cwd=tmp_path)
    assert fused.returncode == 0, fused.stderr
    fusion = json.loads((tmp_path / "fused" / "fusion.json").read_text())
    assert fusion["label_maps"]["thermal/simulated"]["declared_by"] == "plug-in 'thermal'"
    assert fusion["label_maps"]["thermal/simulated"]["mapping"]["contempt"] is None
    assert [b["modality"] for b in fusion["branches"]] == ["face", "thermal"]
    rows = {r["name"]: r for r in json.loads((tmp_path / "fused" / "comparison.json").read_text())["rows"]}
    assert rows["fusion/logpool"]["accuracy"] > max(rows["face/sim"]["accuracy"], rows["thermal/simulated"]["accuracy"])
    assert rows["thermal/simulated"]["n"] < 600  # the camera missed some samples ...
    assert rows["fusion/logpool"]["n"] == 600  # ... the fusion still covers them from the face branch


def test_plugin_is_discovered_in_process_and_the_venv_is_untouched(plugin_path):
    from fer_core.branch import discover_branches

    assert "thermal" not in discover_branches()  # not installed in the environment itself
    sys.path.insert(0, str(plugin_path))
    try:
        found = discover_branches()
        assert found["thermal"].label_space[-1] == "contempt"
    finally:
        sys.path.remove(str(plugin_path))
        for name in [m for m in sys.modules if m.startswith("fer_thermal_example")]:
            del sys.modules[name]
    assert "thermal" not in discover_branches()
    assert importlib.util.find_spec("fer_thermal_example") is None
