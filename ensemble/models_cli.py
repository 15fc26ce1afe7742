"""``fer models``: list the published models and fusions; publish a finished run or fusion into the zoo.

Publishing writes the weights as safetensors next to the manifest (``fer_core/shipped`` by default) and records
the file's sha256, calibration, PrivateTest metrics, recipe and training command (``fer_core.zoo``). A fusion is
published only when every member it was fit on is a published model, matched by fingerprint.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from fer_core import atomic, zoo
from fer_core.artifact import load_run
from fer_core.conformal import zoo_sets
from fer_core.errors import UserError
from fer_face.data.cli import add_data_args
from ensemble.published import entry_for_folder, recipe_of

# branch -> module with export_run(run_dir); imported on use so that `fer --help` stays fast
EXPORTERS = {"face": "fer_face.publish", "landmarks": "fer_face.landmarks.publish", "audio": "fer_audio.publish"}


def _add_zoo_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zoo", type=Path, help="manifest folder (default: $FER_ZOO_DIR, else the package's)")


def register(sub) -> None:
    models = sub.add_parser("models", help="the published models: list them, publish a run or a fusion")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    ls = msub.add_parser("list", help="published models and fusions with their PrivateTest numbers")
    ls.add_argument("--json", action="store_true", help="print the manifest as JSON")
    _add_zoo_arg(ls)
    ls.set_defaults(func=run_list)

    add = msub.add_parser("add", help="publish a trained, evaluated run (face, landmarks or speech)",
                          description="Export a run's weights to safetensors next to the manifest and record them.")
    add.add_argument("run", type=Path, help="run directory (config.json, metrics.json, predictions/, weights)")
    add.add_argument("--name", required=True, help="model name, unique in the zoo (e.g. vgg48_slim)")
    add.add_argument("--default", action="store_true", help="make it its branch's default model")
    add.add_argument("--not-shipped", action="store_true",
                     help="record the model and its sha256 but keep the weights out of the package (large models)")
    add.add_argument("--half", action="store_true",
                     help="store floating-point weights as float16 (half the size; check the predictions with "
                          "bench/half_precision.py first)")
    add.add_argument("--description", default="", help="one line for 'fer models list'")
    _add_zoo_arg(add)
    add.set_defaults(func=run_add)

    views = msub.add_parser(
        "add-views", help="publish a face model's weights again with other test-time views (e.g. a faster one)",
        description="Read the weights of published face model SOURCE with the view set --views, fit their calibration "
                    "on PublicTest, measure PrivateTest and record the result as model --name: it shares SOURCE's "
                    "file, has its own calibration and fingerprint (fusions fit on SOURCE do not apply to it).")
    views.add_argument("source", help="published face model whose weights are read (e.g. vgg48_slim)")
    views.add_argument("--name", required=True, help="name of the new entry (e.g. vgg48_slim_fast)")
    views.add_argument("--views", required=True, metavar="SET",
                       help="1: the image, 2: and its mirror, 5:S / 10:S: each also moved S px four ways (S = 1-3)")
    add_data_args(views)
    views.add_argument("--description", default="", help="one line for 'fer models list'")
    _add_zoo_arg(views)
    views.set_defaults(func=run_add_views)

    ref = msub.add_parser(
        "refresh", help="record again a published model's calibration and metrics from its run folder",
        description="After 'fer recalibrate' (or 'fer face evaluate') of published model NAME's run folder: record that "
                    "folder's calibration, PublicTest fingerprint and PrivateTest metrics in the manifest, keeping the "
                    "weights file (its sha256 is checked). The folder must describe the same network and views; "
                    "fusions naming the old fingerprint no longer apply until they are fit and published again.")
    ref.add_argument("name", help="published model (e.g. vgg48_slim)")
    _add_zoo_arg(ref)
    ref.set_defaults(func=run_refresh)

    export = msub.add_parser(
        "export", help="write a published face model as a run folder, to evaluate it like a trained run",
        description="Write published face model NAME's weights (as float32) and settings into --out as a run folder "
                    "(best.pt, config.json). 'fer face evaluate OUT' then scores it on FER2013 with its own views and "
                    "calibration, e.g. with --train-predictions for a distillation teacher (fer ensemble teach). Its "
                    "predictions are a new evaluation: a fusion fit on NAME applies to them only where they are the "
                    "same (float16 weights change them).")
    export.add_argument("name", help="published face model (e.g. vgg48_slim)")
    export.add_argument("--out", type=Path, required=True, help="new run folder")
    _add_zoo_arg(export)
    export.set_defaults(func=run_export)

    fus = msub.add_parser("add-fusion", help="publish a fusion run whose members are all published models")
    fus.add_argument("run", type=Path, help="fusion run directory ('fer ensemble fuse --out')")
    fus.add_argument("--name", required=True, help="fusion name, unique in the zoo (e.g. vgg48_slim+landmarks)")
    fus.add_argument("--default", action="store_true", help="the fusion 'fer predict' applies by default")
    fus.add_argument("--description", default="", help="one line for 'fer models list'")
    _add_zoo_arg(fus)
    fus.set_defaults(func=run_add_fusion)


def _branch_of(run_dir: Path) -> str:
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise UserError(f"{run_dir}: no metrics.json; only a trained and evaluated run can be published")
    modality = json.loads(metrics_path.read_text(encoding="utf-8")).get("modality")
    if modality not in EXPORTERS:
        raise UserError(f"{run_dir}: a {modality!r} run; publishable branches: {', '.join(EXPORTERS)}")
    return modality


def _without(entries: list, name: str, default: bool, branch: str | None = None) -> list:
    """``entries`` minus ``name``; when ``default``, the others (of ``branch``) lose their default mark."""
    kept = [e for e in entries if e.name != name]
    if default:
        kept = [replace(e, default=False) if branch is None or getattr(e, "branch", None) == branch else e for e in kept]
    return kept


def run_add(args: argparse.Namespace) -> int:
    manifest = zoo.load_manifest(args.zoo)
    branch = _branch_of(args.run)
    tensors, fields = importlib.import_module(EXPORTERS[branch]).export_run(args.run)
    fields["command"] = zoo.as_user_command(fields["command"])
    published = entry_for_folder(args.run)
    if published is not None:  # the command that reproduces it, not the one it happened to be run with
        fields["command"], fields["recipe"] = " && ".join(published.commands), recipe_of(published)
    file_name = f"{branch}-{args.name}.safetensors"
    path = manifest.root / file_name
    zoo.write_tensors(tensors, path, half=args.half)
    entry = zoo.ZooModel(name=args.name, **fields, sha256=zoo.sha256_file(path), run=args.run.as_posix(),
                         dtype="float16" if args.half else "float32",
                         file=None if args.not_shipped else file_name, bytes=path.stat().st_size,
                         default=args.default, description=args.description)
    if args.not_shipped:
        kept_at = args.run / file_name
        shutil.move(path, kept_at)
        print(f"weights kept out of the package: {kept_at}", file=sys.stderr)
    manifest.models = _without(manifest.models, args.name, args.default, branch) + [entry]
    print(f"published {branch} model {args.name!r}: {entry.bytes / 1e6:.1f} MB, sha256 {entry.sha256[:12]}..., "
          f"{entry.metrics['split']} accuracy {entry.metrics['accuracy']:.2%} -> {manifest.save()}", file=sys.stderr)
    return 0


def _network_and_views(config: dict) -> dict:
    """An entry's config without its calibration choice: what must match for the same weights to mean the same."""
    return {**config, "eval": {k: v for k, v in config["eval"].items() if k != "calibration"}} if "eval" in config else config


def run_refresh(args: argparse.Namespace) -> int:
    manifest = zoo.load_manifest(args.zoo)
    entry = manifest.model(args.name)
    if entry.shipped:
        zoo.model_file(manifest, entry)  # the file is there and is the one the entry recorded
    fields = importlib.import_module(EXPORTERS[entry.branch]).record(Path(entry.run))
    if _network_and_views(fields["config"]) != _network_and_views(entry.config):
        raise UserError(f"{entry.run}: describes another network or other test-time views than model {args.name!r}; "
                        f"publish it with 'fer models add' (or 'fer models add-views')")
    fresh = {k: fields[k] for k in zoo.EVALUATION_FIELDS}
    updated = replace(entry, **fresh, config=fields["config"])
    manifest.models = [updated if m.name == args.name else m for m in manifest.models]
    kind = updated.calibrator.kind
    print(f"refreshed {entry.branch} model {args.name!r} from {entry.run}: {kind} calibration, "
          f"{updated.metrics['split']} accuracy {updated.metrics['accuracy']:.2%}, ECE {updated.metrics['ece']:.2%} "
          f"(was {entry.metrics['accuracy']:.2%}, {entry.metrics['ece']:.2%}) -> {manifest.save()}", file=sys.stderr)
    return 0


def run_add_views(args: argparse.Namespace) -> int:
    from fer_face.data import load_fer2013
    from fer_face.inference import view_set
    from fer_face.publish import with_views

    view_set(args.views)  # an unknown set is refused before any work
    manifest = zoo.load_manifest(args.zoo)
    source = manifest.model(args.source)
    if args.name == args.source:
        raise UserError(f"--name {args.name}: give the new entry its own name (the source keeps its views)")
    ds = load_fer2013(args.data, strict_size=args.strict_size)
    fields = with_views(source, manifest, ds, args.views)
    command = (f"fer models add-views {args.source} --name {args.name} --views {args.views} "
               f"--data data/{Path(ds.source).name}")
    entry = replace(source, name=args.name, **fields, command=f"{source.command} && {command}", default=False,
                    description=args.description or f"{args.source} read with test-time view set {args.views}")
    manifest.models = _without(manifest.models, args.name, False) + [entry]
    print(f"published face model {args.name!r} ({args.source}'s file, views {args.views}, {entry.calibrator.kind} "
          f"calibration, T {entry.temperature:.3f}): {entry.metrics['split']} accuracy {entry.metrics['accuracy']:.2%}, ECE "
          f"{entry.metrics['ece']:.2%} -> {manifest.save()}", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from fer_face.publish import export_to_run

    manifest = zoo.load_manifest(args.zoo)
    entry = manifest.model(args.name)
    out = export_to_run(entry, manifest, args.out)
    print(f"exported face model {args.name!r} ({entry.dtype}, sha256 {entry.sha256[:12]}...) to {out}; score it with "
          f"'fer face evaluate {out}'", file=sys.stderr)
    return 0


def run_add_fusion(args: argparse.Namespace) -> int:
    from ensemble.fusion import FittedFusion

    manifest = zoo.load_manifest(args.zoo)
    fusion = FittedFusion.load(args.run)
    members = fusion.member_for({m.name: m.fingerprint for m in manifest.models})
    missing = [n for n in fusion.names if n not in members]
    if missing:
        raise UserError(f"{args.run}: member(s) {', '.join(missing)} are not published models (matched by the "
                        "predictions they were fit on); publish each member run with 'fer models add' first")
    metrics = json.loads((args.run / "metrics.json").read_text(encoding="utf-8"))
    file_name = f"fusion-{args.name}.json"
    atomic.write_json(manifest.root / file_name, fusion.to_json())
    entry = zoo.ZooFusion(name=args.name, file=file_name, sha256=zoo.sha256_file(manifest.root / file_name),
                          members=members, metrics=zoo.metrics_summary(metrics),
                          command=(" && ".join(published.commands) if (published := entry_for_folder(args.run))
                                   else zoo.as_user_command(metrics.get("command", ""))),
                          run=args.run.as_posix(), default=args.default, description=args.description,
                          conformal=zoo_sets(load_run(args.run, metrics["calibration_split"]),
                                             load_run(args.run, metrics["split"])))
    manifest.fusions = _without(manifest.fusions, args.name, args.default) + [entry]
    print(f"published fusion {args.name!r} of {', '.join(members.values())}: {entry.metrics['split']} accuracy "
          f"{entry.metrics['accuracy']:.2%} -> {manifest.save()}", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    manifest = zoo.load_manifest(args.zoo)
    if args.json:
        print(json.dumps(manifest.to_json(), indent=2))
        return 0
    width = max([len(e.name) for e in [*manifest.models, *manifest.fusions]] + [5]) + 2
    print(f"  {'model':<{width}}{'branch':<11}{'split':<13}{'acc':>8}{'ECE':>7}{'MB':>7}  {'ships':<6}recipe / members")
    for m in manifest.models:
        print(f"{'*' if m.default else ' '} {m.name:<{width}}{m.branch:<11}{m.metrics['split']:<13}"
              f"{m.metrics['accuracy']:>8.2%}{m.metrics['ece']:>7.2%}{m.bytes / 1e6:>7.1f}  "
              f"{'yes' if m.shipped else 'no':<6}{m.recipe or '-'}")
    for f in manifest.fusions:
        print(f"{'*' if f.default else ' '} {f.name:<{width}}{'fusion':<11}{f.metrics['split']:<13}"
              f"{f.metrics['accuracy']:>8.2%}{f.metrics['ece']:>7.2%}{'':>7}  {'yes':<6}{' + '.join(f.members.values())}")
    print("* default", file=sys.stderr)
    return 0
