"""The wheel a user installs predicts offline: it carries the shipped weights, the manifest and every recipe.

The project is built as a wheel from a copy of its sources and pip-installed into a temporary --target directory
that only this test's subprocesses see (PYTHONPATH, run from another folder), so the checkout and the virtual
environment's editable install are out of the picture.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fer_core", "fer_face", "fer_audio", "ensemble", "dashboard")


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def wheel_and_site(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("package")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES:  # a copy: an in-tree build would leave build/ and *.egg-info in the checkout
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    built = _pip("wheel", "--no-deps", "--wheel-dir", str(root / "dist"), str(src))
    if built.returncode != 0:
        if "No matching distribution found for setuptools" in built.stderr:
            pytest.skip("building the wheel needs setuptools from the package index, which is not reachable")
        pytest.fail(f"pip could not build the wheel:\n{built.stderr[-3000:]}")
    wheel = next((root / "dist").glob("fer_fusion-*.whl"))
    installed = _pip("install", "--no-deps", "--target", str(root / "site"), str(wheel))
    assert installed.returncode == 0, installed.stderr[-3000:]
    yield wheel, root / "site"
    shutil.rmtree(root, ignore_errors=True)


def test_the_wheel_holds_every_shipped_file_and_recipe(wheel_and_site):
    wheel, _ = wheel_and_site
    names = set(zipfile.ZipFile(wheel).namelist())
    manifest = json.loads((ROOT / "fer_core/shipped/manifest.json").read_text(encoding="utf-8"))
    shipped = {f"fer_core/shipped/{entry['file']}" for kind in ("models", "fusions") for entry in manifest[kind]
               if entry.get("file")}
    assert shipped and shipped | {"fer_core/shipped/manifest.json"} <= names
    recipes = {p.relative_to(ROOT).as_posix() for package in PACKAGES for p in (ROOT / package).rglob("*.toml")}
    assert recipes and recipes <= names
    assert {"dashboard/app.py", "dashboard/views/try_it.py"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any("__pycache__" in n or n.startswith(("tests/", "bench/", "results/", "data/")) for n in names)


def test_the_installed_package_predicts_a_photo_offline(wheel_and_site, tmp_path):
    from skimage import data

    _, site = wheel_and_site
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("FER_ZOO_DIR", None)
    done = subprocess.run([sys.executable, "-m", "fer_core.cli", "predict", str(photo), "--json", "--no-progress"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    for path in (out["models"]["face"], out["models"]["landmarks"]):  # the installed copy's weights, not the checkout's
        assert Path(path).resolve().is_relative_to(site.resolve()), path
    face = out["results"][0]
    assert face["label"] == "happy" and abs(sum(face["fused"].values()) - 1) < 1e-3
