"""Atomic writes (fer_core.atomic): whole files or none, and a target that cannot be written is one line."""

from __future__ import annotations

import pytest

from fer_core import atomic
from fer_core.errors import UserError


def test_a_write_replaces_the_file_whole_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "deep" / "out.json"
    atomic.write_json(target, {"a": 1})
    atomic.write_json(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 2\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_a_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_folder_or_an_unwritable_place_is_one_line_naming_it(tmp_path):
    with pytest.raises(UserError, match=f"^{tmp_path}: is a folder; give a file name$"):
        atomic.write_text(tmp_path, "x")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError) as e:
        atomic.write_text(blocker / "out.csv", "x")
    message = str(e.value)
    assert message.startswith(f"{blocker / 'out.csv'}: cannot write there (") and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    with pytest.raises(UserError, match="a-file is a file"):
        atomic.check_target(blocker / "deeper" / "out.csv")
    atomic.check_target(tmp_path / "new" / "folders" / "out.csv")  # created when written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
