"""``fer reproduce``: rebuild published entries from their recipes into runs/, or check them (``--dry-run``).

The dry run resolves every training command of an entry exactly as ``fer`` would and compares the
resolved recipe with the committed run's ``config.json``; for a fusion it checks that each member run
the command reads is, by prediction fingerprint, the member the committed fusion was fit on. Nothing
is trained or written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from fer_core import artifact
from fer_core.cli import build_parser
from fer_core.errors import UserError
from fer_core.evaluate import FER2013
from ensemble.published import Entry, Registry, out_of

FINISHED_FILES = ("metrics.json", "cv.json", "summary.json")  # a run, a cross-validation, pseudo-pairs


def _face_config(args) -> dict[str, Any]:
    from fer_face.config import resolve_config

    return resolve_config(args)


def _landmark_config(args) -> dict[str, Any]:
    from fer_face.landmarks.cli import resolve_config

    return resolve_config(args)


def _audio_config(args) -> dict[str, Any]:
    from fer_audio.cli import resolve_config

    return resolve_config(args)


def _face_saved(cfg: dict[str, Any]) -> dict[str, Any]:
    from fer_face.config import with_defaults

    return with_defaults(cfg)


def _as_saved(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg


@dataclass(frozen=True)
class TrainCommand:
    resolve: Callable[[Any], dict[str, Any]]
    sections: tuple[str, ...]
    config_in: str = ""  # the committed config.json below the entry's folder
    saved_as_resolved: Callable[[dict[str, Any]], dict[str, Any]] = _as_saved  # fills a saved config's defaults


TRAIN_COMMANDS = {
    ("face", "train"): TrainCommand(_face_config, ("model", "train", "augment", "eval"), saved_as_resolved=_face_saved),
    ("landmarks", "train"): TrainCommand(_landmark_config, ("features", "mlp", "logreg", "eval")),
    ("audio", "train"): TrainCommand(_audio_config, ("data", "features", "model", "train", "augment", "eval")),
    ("audio", "cv"): TrainCommand(_audio_config, ("data", "features", "model", "train", "augment", "eval"), "fold-1"),
}


def parse(argv: list[str], where: str):
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        raise UserError(f"{where}: the command does not parse (see the usage above)") from None


def check_train(entry: Entry, argv: list[str], spec: TrainCommand, root: Path) -> str:
    where = f"{entry.name}: {' '.join(argv[:2])}"
    args = parse(argv, where)
    resolved = spec.resolve(args)
    config_path = root / entry.folder / spec.config_in / "config.json"
    if not config_path.is_file():
        raise UserError(f"{where}: no committed {config_path} to check the recipe against")
    saved = json.loads(config_path.read_text(encoding="utf-8"))
    saved["config"] = spec.saved_as_resolved(saved["config"])
    differences = [f"{section}.{key}: committed {saved['config'].get(section, {}).get(key)!r}, recipe gives "
                   f"{resolved[section].get(key)!r}"
                   for section in spec.sections
                   for key in sorted(set(resolved[section]) | set(saved["config"].get(section, {})))
                   if saved["config"].get(section, {}).get(key) != resolved[section].get(key)]
    if argv[:2] == ["landmarks", "train"] and saved.get("model") != args.model:
        differences.append(f"model: committed {saved.get('model')!r}, command gives {args.model!r}")
    if differences:
        raise UserError(f"{where}: the recipe does not resolve to {config_path}: " + "; ".join(differences[:4]))
    return f"recipe matches {config_path}"


def check_fusion(entry: Entry, argv: list[str], registry: Registry) -> str:
    """Each --branch that is another entry's run must be the member the committed fusion was fit on."""
    where = f"{entry.name}: {' '.join(argv[:2])}"
    args = parse(argv, where)
    if Path(args.out) != Path(entry.run):
        return "fusion command parses; it makes a run the entry's later commands read"
    fusion_path = registry.root / entry.folder / "fusion.json"
    if not fusion_path.is_file():
        raise UserError(f"{where}: no committed {fusion_path}")
    fusion = json.loads(fusion_path.read_text(encoding="utf-8"))
    by_run = registry.by_run()
    checked = 0
    for i, branch in enumerate(args.branch):
        source = by_run.get(str(branch).rstrip("/"))
        if source is None:
            continue  # a run this entry's own commands make (pseudo-pair artifacts)
        member = fusion["branches"][i]
        split = fusion["fit_split"]
        committed = artifact.load_run(registry.root / source.folder, split).fingerprint()
        if committed != member["fingerprint"]:
            raise UserError(f"{where}: --branch {branch} is {source.name}, whose committed {split} predictions are "
                            f"not the member {member['name']!r} the fusion in {fusion_path.parent} was fit on")
        checked += 1
    if checked == 0:
        return "fusion command parses; its members are made by the entry's own commands"
    return f"{checked} member(s) are the exact runs the committed fusion was fit on"


def dry_run(entry: Entry, registry: Registry) -> list[str]:
    """One line per command of ``entry`` saying what was checked; a UserError names the first mismatch."""
    lines = []
    for i in range(len(entry.commands)):
        argv = entry.argv(i)
        spec = TRAIN_COMMANDS.get(tuple(argv[:2]))
        if spec is not None:
            lines.append(check_train(entry, argv, spec, registry.root))
        elif argv[:2] == ["ensemble", "fuse"]:
            lines.append(check_fusion(entry, argv, registry))
        else:
            parse(argv, f"{entry.name}: {' '.join(argv[:2])}")
            lines.append("command parses")
    return lines


def written_by(argv: list[str], where: str) -> list[Path]:
    """The files of which any one shows the command already ran; none for a command that always runs (an
    evaluation that writes no training-split predictions)."""
    command = tuple(argv[:2])
    if command in (("face", "evaluate"), ("landmarks", "evaluate")):
        args = parse(argv, where)
        return [artifact.artifact_path(args.run, FER2013.train)] if args.train_predictions else []
    if command == ("models", "export"):
        return [Path(out_of(argv, where)) / "config.json"]
    if command == ("ensemble", "teach"):
        args = parse(argv, where)
        return [artifact.artifact_path(args.out, args.split)]
    out = Path(out_of(argv, where))
    return [out / f for f in FINISHED_FILES]


def run_entry(entry: Entry, *, echo=print) -> None:
    """Run the entry's commands in order; a command that already ran is skipped (its run is finished, its
    export, teacher or training-split predictions are written), a killed training resumes from its last.pt;
    the first failing command stops everything."""
    for i, command in enumerate(entry.commands):
        argv = entry.argv(i)
        where = f"{entry.name}: command {i + 1}"
        done = next((p for p in written_by(argv, where) if p.is_file()), None)
        if done is not None:
            echo(f"{entry.name}: {done} exists; skipped 'fer {' '.join(argv[:2])}' (delete it to run again)")
            continue
        if "--out" in argv and (Path(out_of(argv, where)) / "last.pt").is_file() and "--resume" not in argv:
            argv = [*argv, "--resume"]
        echo(f"{entry.name}: fer {' '.join(argv)}")
        rc = subprocess.call([sys.executable, "-m", "fer_core.cli", *argv])
        if rc != 0:
            failure = UserError(f"{entry.name}: 'fer {' '.join(argv)}' failed (exit {rc}); fix it and run "
                                f"fer reproduce {entry.name} again (finished steps are skipped)")
            failure.exit_code = rc
            raise failure
