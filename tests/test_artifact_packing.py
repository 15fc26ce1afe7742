"""Predictions artifacts written plain or gzip-compressed: the same predictions either way, and a fusion of
packed members is the fusion of the plain ones."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from ensemble.synthetic import synthetic_branch, synthetic_samples, write_run
from fer_core.artifact import artifact_path, load, load_run, pack, splits_in
from fer_core.cli import main as fer
from fer_core.errors import ArtifactError


@pytest.fixture()
def run(tmp_path):
    samples = synthetic_samples({"PublicTest": 90, "PrivateTest": 90}, seed=3)
    return write_run(tmp_path / "face_a", synthetic_branch(samples, name="face/a", modality="face", strength=1.5,
                                                           seed=1))


def test_packing_keeps_every_prediction_and_the_fingerprint(run):
    before = {s: load_run(run, s) for s in splits_in(run)}
    plain_bytes = sum(artifact_path(run, s).stat().st_size for s in before)
    written = pack(run)
    assert sorted(p.name for p in written) == ["PrivateTest.json.gz", "PublicTest.json.gz"]
    assert splits_in(run) == ["PrivateTest", "PublicTest"]
    assert not list((run / "predictions").glob("*.json")), "the plain files are replaced"
    for split, old in before.items():
        assert artifact_path(run, split).name == f"{split}.json.gz"
        new = load_run(run, split)
        assert new.fingerprint() == old.fingerprint()
        np.testing.assert_array_equal(new.ids, old.ids)
        np.testing.assert_allclose(new.logits, old.logits)
    assert sum(artifact_path(run, s).stat().st_size for s in before) < 0.6 * plain_bytes
    assert pack(run) == [], "packing twice does nothing"


def test_packed_bytes_do_not_depend_on_when_they_were_written(run, tmp_path):
    first = pack(run)[0].read_bytes()
    again = load(run / "predictions" / "PrivateTest.json.gz").save(tmp_path / "again.json.gz").read_bytes()
    assert first == again


def test_a_plain_file_beside_a_packed_one_is_the_one_read_and_rewritten(run):
    pack(run)
    fresh = load_run(run, "PublicTest")
    fresh.save(run / "predictions" / "PublicTest.json")
    assert artifact_path(run, "PublicTest").name == "PublicTest.json"
    assert splits_in(run) == ["PrivateTest", "PublicTest"]


def test_a_corrupt_packed_file_is_one_line_naming_it(run):
    path = pack(run)[0]
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ArtifactError, match="PrivateTest.json.gz: unreadable predictions artifact"):
        load(path)
    path.write_bytes(gzip.compress(b"{not json"))
    with pytest.raises(ArtifactError, match="unreadable predictions artifact"):
        load(path)


def test_a_fusion_of_packed_members_equals_the_fusion_of_plain_ones(tmp_path):
    samples = synthetic_samples({"PublicTest": 150, "PrivateTest": 150}, seed=5)
    runs = [write_run(tmp_path / name, synthetic_branch(samples, name=f"face/{name}", modality="face", strength=1.2,
                                                       seed=seed)) for name, seed in (("a", 1), ("b", 2))]
    argv = ["ensemble", "fuse", *sum((["--branch", str(r)] for r in runs), []), "--method", "stacking"]
    assert fer([*argv, "--out", str(tmp_path / "plain")]) == 0
    for r in runs:
        pack(r)
    assert fer([*argv, "--out", str(tmp_path / "packed")]) == 0
    plain, packed = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("plain", "packed"))
    assert packed["accuracy"] == plain["accuracy"] and packed["nll"] == plain["nll"]
