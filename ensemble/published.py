"""The published entries (``results/published.toml``): which runs results/ holds and how each is made.

Every entry names its folder under results/ and the ``fer`` commands that reproduce it into runs/; the
last command's ``--out`` is the entry's run, which later entries' commands read (``needs``). Earlier commands
make what the last one reads (a teacher's members, their evaluations); a command without ``--out`` is an
evaluation that writes into the run it names.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from fer_core import artifact
from fer_core.errors import UserError

KINDS = ("face", "landmarks", "speech", "cv", "fusion")
REGISTRY_FILE = "published.toml"


def results_root() -> Path:
    return Path(os.environ.get("FER_RESULTS_DIR") or "results")


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    folder: str  # under results/, holds metrics.json (cv.json for kind "cv")
    commands: tuple[str, ...]
    needs: tuple[str, ...] = field(default=())

    def argv(self, i: int = 0) -> list[str]:
        """Command ``i`` split into words, without the leading ``fer``."""
        words = shlex.split(self.commands[i])
        return words[1:]

    @property
    def run(self) -> str:
        """The run directory the entry's last command writes (``runs/vgg48_slim``)."""
        last = len(self.commands) - 1
        return out_of(self.argv(last), f"{self.name}: command {last + 1}")


def out_of(argv: list[str], where: str) -> str:
    if "--out" not in argv or argv.index("--out") + 1 >= len(argv):
        raise UserError(f"{where}: the command has no --out RUN; an entry's last command writes its run directory")
    return argv[argv.index("--out") + 1]


@dataclass(frozen=True)
class Registry:
    entries: tuple[Entry, ...]
    root: Path

    def named(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise UserError(f"no published entry {name!r}; published: {', '.join(e.name for e in self.entries)}")

    def by_run(self) -> dict[str, Entry]:
        return {e.run: e for e in self.entries}

    def with_needs(self, names: list[str]) -> list[Entry]:
        """The named entries and everything they need, each once, dependencies first."""
        order: list[Entry] = []

        def visit(name: str, chain: tuple[str, ...]) -> None:
            if name in chain:
                raise UserError(f"{self.root / REGISTRY_FILE}: entries need each other in a cycle: "
                                f"{' -> '.join([*chain, name])}")
            entry = self.named(name)
            for need in entry.needs:
                visit(need, (*chain, name))
            if entry not in order:
                order.append(entry)

        for n in names:
            visit(n, ())
        return order


def load_registry(root: str | Path | None = None) -> Registry:
    root = Path(root) if root is not None else results_root()
    path = root / REGISTRY_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found; the published entries are listed there (run from the repository root "
                        "or set FER_RESULTS_DIR)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: invalid TOML ({e})") from None
    entries = []
    for i, item in enumerate(raw.get("entry", []), 1):
        where = f"{path}: entry {i}"
        missing = [k for k in ("name", "kind", "folder", "commands") if k not in item]
        if missing:
            raise UserError(f"{where}: missing {', '.join(missing)}")
        unknown = sorted(set(item) - {"name", "kind", "folder", "commands", "needs"})
        if unknown:
            raise UserError(f"{where}: unknown field(s) {', '.join(unknown)}")
        if item["kind"] not in KINDS:
            raise UserError(f"{where}: kind {item['kind']!r}; choose one of {', '.join(KINDS)}")
        commands = item["commands"]
        if not commands or not all(isinstance(c, str) and c.startswith("fer ") for c in commands):
            raise UserError(f"{where}: commands must be a non-empty list of 'fer ...' command lines")
        entries.append(Entry(item["name"], item["kind"], item["folder"], tuple(commands), tuple(item.get("needs", ()))))
    names = [e.name for e in entries]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"{path}: entry name(s) {', '.join(dup)} occur more than once")
    registry = Registry(tuple(entries), root)
    for e in entries:
        e.run  # every last command names its run
        for need in e.needs:
            registry.named(need)
    return registry


def entry_for_folder(run: str | Path, root: str | Path | None = None) -> Entry | None:
    """The published entry whose folder ``run`` is, or None (also when there is no registry)."""
    try:
        registry = load_registry(root)
    except UserError:
        return None
    target = Path(run).resolve()
    return next((e for e in registry.entries if (registry.root / e.folder).resolve() == target), None)


def pack_predictions(registry: Registry) -> list[Path]:
    """Gzip every plain predictions artifact under the results root (published folders and the runs they were
    made from: folds, fusion members, pseudo-pairs); the files written."""
    written: list[Path] = []
    for folder in sorted(registry.root.rglob("predictions")):
        if folder.is_dir():
            written += artifact.pack(folder.parent)
    return written


def recipe_of(entry: Entry) -> str:
    """The recipe of the entry's last command that names one: the training step of a chain (teacher first)."""
    for i in reversed(range(len(entry.commands))):
        argv = entry.argv(i)
        if "--recipe" in argv:
            return argv[argv.index("--recipe") + 1]
    return ""
