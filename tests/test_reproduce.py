"""Published entries: the dry run on the committed results, the index, and what `fer reproduce` runs."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fer_core.errors import UserError
from ensemble import reproduce
from ensemble.published import load_registry, recipe_of
from ensemble.results_index import COLUMNS, rows, to_csv, to_markdown
from tests.cli import fer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"


def _fer(*args, cwd=REPO):
    return fer(*args, cwd=cwd)


def test_dry_run_of_every_published_entry_passes():
    r = _fer("reproduce", "all", "--dry-run")
    assert r.returncode == 0, r.stderr
    registry = load_registry(RESULTS)
    assert r.stdout.count("\nok  ") + r.stdout.startswith("ok  ") >= len(registry.entries)
    assert "nothing was trained" in r.stdout


def test_results_hold_exactly_the_published_folders_packed_and_small():
    registry = load_registry(RESULTS)
    tops = {e.folder.split("/")[0] + "/" + e.folder.split("/")[1] for e in registry.entries}
    on_disk = {p.relative_to(RESULTS).as_posix() for d in ("fer2013", "ravdess") for p in (RESULTS / d).iterdir()}
    assert on_disk == tops
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if tracked:
        assert sum((REPO / p).stat().st_size for p in tracked if (REPO / p).is_file()) < 20e6
    plain = sorted(str(p.relative_to(RESULTS)) for p in RESULTS.rglob("predictions/*.json"))
    assert not plain, f"run: fer results pack ({len(plain)} plain artifacts, e.g. {plain[:1]})"


def test_committed_index_is_what_the_metrics_files_give():
    table = rows(load_registry(RESULTS))
    assert (RESULTS / "index.csv").read_text() == to_csv(table), "run: fer results index"
    assert (RESULTS / "index.md").read_text() == to_markdown(table), "run: fer results index"
    assert to_csv(table).splitlines()[0].split(",") == list(COLUMNS)
    assert {r["kind"] for r in table} >= {"face", "landmarks", "speech", "fusion"}


def _copy_entries(tmp_path: Path, names: list[str]) -> Path:
    """A results folder with only ``names`` (and their folders) of the committed registry."""
    registry = load_registry(RESULTS)
    root = tmp_path / "results"
    keep = registry.with_needs(names)
    text = (RESULTS / "published.toml").read_text().split("[[entry]]")
    blocks = [b for b in text[1:] if any(f'name = "{e.name}"\n' in b for e in keep)]
    root.mkdir()
    (root / "published.toml").write_text("".join("[[entry]]" + b for b in blocks))
    for e in keep:
        shutil.copytree(RESULTS / e.folder, root / e.folder, ignore=shutil.ignore_patterns("*.pt"))
    return root


def test_dry_run_names_the_field_a_committed_run_does_not_match(tmp_path):
    root = _copy_entries(tmp_path, ["vgg48_slim_seed0"])
    config = root / "fer2013/vgg48_slim_seed0/config.json"
    saved = json.loads(config.read_text())
    saved["config"]["train"]["lr"] = 0.1
    config.write_text(json.dumps(saved))
    r = _fer("reproduce", "vgg48_slim_seed0", "--dry-run", "--results", root)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "train.lr: committed 0.1, recipe gives 0.003" in r.stderr


def test_dry_run_refuses_a_fusion_member_that_is_not_the_run_it_was_fit_on(tmp_path):
    root = _copy_entries(tmp_path, ["fusion-vgg48_slim-landmarks"])
    fusion = root / "fer2013/fusion-vgg48_slim-landmarks/fusion.json"
    saved = json.loads(fusion.read_text())
    saved["branches"][1]["fingerprint"] = "0" * 64
    fusion.write_text(json.dumps(saved))
    registry = load_registry(root)
    with pytest.raises(UserError, match="landmarks_geometry, whose committed PublicTest predictions are not"):
        reproduce.dry_run(registry.named("fusion-vgg48_slim-landmarks"), registry)


def _registry(tmp_path, toml: str) -> Path:
    """A results root holding only ``published.toml`` with ``toml``."""
    root = tmp_path / "results"
    root.mkdir()
    (root / "published.toml").write_text(toml)
    return root


def test_reproduce_runs_needs_first_skips_finished_resumes_and_stops_at_a_failure(tmp_path, monkeypatch):
    root = _registry(tmp_path,
        '[[entry]]\nname = "a"\nkind = "face"\nfolder = "x/a"\ncommands = ["fer face train --out runs/a"]\n'
        '[[entry]]\nname = "b"\nkind = "face"\nfolder = "x/b"\ncommands = ["fer face train --out runs/b"]\n'
        '[[entry]]\nname = "f"\nkind = "fusion"\nfolder = "x/f"\nneeds = ["a", "b"]\n'
        'commands = ["fer ensemble fuse --branch runs/a --branch runs/b --out runs/f"]\n')
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs/a").mkdir(parents=True)
    (tmp_path / "runs/a/metrics.json").write_text("{}")
    (tmp_path / "runs/b").mkdir()
    (tmp_path / "runs/b/last.pt").write_bytes(b"")
    calls = []

    def fake_call(cmd):
        calls.append(cmd[3:])
        return 1 if "fuse" in cmd else 0

    monkeypatch.setattr(reproduce.subprocess, "call", fake_call)
    registry = load_registry(root)
    entries = registry.with_needs(["f"])
    assert [e.name for e in entries] == ["a", "b", "f"]
    said = []
    for e in entries[:2]:
        reproduce.run_entry(e, echo=said.append)
    assert "runs/a/metrics.json exists; skipped 'fer face train'" in said[0]
    assert calls == [["face", "train", "--out", "runs/b", "--resume"]]
    with pytest.raises(UserError, match="failed \\(exit 1\\)"):
        reproduce.run_entry(entries[2], echo=said.append)


def test_an_entry_made_by_a_chain_is_its_last_run_and_skips_each_step_already_written(tmp_path, monkeypatch):
    root = _registry(tmp_path,
        '[[entry]]\nname = "student"\nkind = "face"\nfolder = "x/student"\ncommands = [\n'
        '  "fer models export vgg48_slim --out runs/shipped",\n'
        '  "fer face evaluate runs/shipped --data d.zip --train-predictions",\n'
        '  "fer landmarks evaluate runs/marks --data d.zip --train-predictions",\n'
        '  "fer face evaluate runs/shipped --data d.zip",\n'
        '  "fer ensemble fuse --branch runs/shipped --branch runs/marks --out runs/fusion",\n'
        '  "fer ensemble teach runs/fusion --out runs/teacher",\n'
        '  "fer face train --recipe fer2013/vgg48_slim_distilled --data d.zip --out runs/student",\n]\n')
    monkeypatch.chdir(tmp_path)
    for written in ("runs/shipped/config.json", "runs/marks/predictions/Training.json.gz",
                    "runs/fusion/metrics.json", "runs/student/last.pt"):
        (tmp_path / written).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / written).write_bytes(b"")
    calls = []
    monkeypatch.setattr(reproduce.subprocess, "call", lambda cmd: calls.append(cmd[3:6]) or 0)
    entry = load_registry(root).named("student")
    assert entry.run == "runs/student"
    assert recipe_of(entry) == "fer2013/vgg48_slim_distilled"  # the training step's, not the first command's
    said = []
    reproduce.run_entry(entry, echo=said.append)
    assert calls == [["face", "evaluate", "runs/shipped"], ["face", "evaluate", "runs/shipped"],
                     ["ensemble", "teach", "runs/fusion"], ["face", "train", "--recipe"]]
    assert said[-1].endswith("--out runs/student --resume")
    assert sum("exists; skipped" in line for line in said) == 3


def test_a_fusion_that_is_not_the_entrys_run_is_only_parsed_by_the_dry_run(tmp_path):
    root = _registry(tmp_path,
        '[[entry]]\nname = "s"\nkind = "face"\nfolder = "x/s"\ncommands = [\n'
        '  "fer ensemble fuse --branch runs/a --branch runs/b --out runs/teacher-fusion",\n'
        '  "fer ensemble teach runs/teacher-fusion --out runs/teacher",\n]\n')
    registry = load_registry(root)
    assert reproduce.dry_run(registry.named("s"), registry) == [
        "fusion command parses; it makes a run the entry's later commands read", "command parses"]


def test_registry_errors_are_one_line(tmp_path):
    root = tmp_path / "results"
    root.mkdir()
    (root / "published.toml").write_text('[[entry]]\nname = "a"\nkind = "tabular"\nfolder = "x"\ncommands = []\n')
    r = _fer("results", "list", "--results", root)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "kind 'tabular'" in r.stderr
    r = _fer("reproduce", "nope", "--dry-run")
    assert r.returncode == 2 and "no published entry 'nope'" in r.stderr
