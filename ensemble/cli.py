"""``fer ensemble``: list branch plug-ins, build face + voice pairs, fuse branches, ablate over subsets,
conformal prediction sets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fer_core import recipe
from fer_core.cli import add_device_argument
from fer_core.artifact import artifact_path
from fer_core.calibration import CALIBRATION_CHOICES
from fer_core.errors import UserError
from fer_core.recipe import NON_NEGATIVE

PAIRS_FLAG_RANGES = {"--seed": NON_NEGATIVE}
FIT_HELP = "split the fusion/conformal procedure is fit and calibrated on (default: PublicTest)"
EVAL_HELP = "split it is evaluated on, never fit on (default: PrivateTest; pseudo-pair audio runs use validation/test)"


def _add_fusion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--branch", action="append", required=True, type=Path, metavar="RUN_DIR",
                   help="a branch run directory holding predictions/<split>.json (repeat; a fusion run dir works too)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--fit-split", default="PublicTest", help=FIT_HELP)
    p.add_argument("--eval-split", default="PrivateTest", help=EVAL_HELP)
    p.add_argument("--label-map", type=Path, metavar="FILE.toml",
                   help="declared label mappings, one [branch] table of `source = \"target\"` (false drops a label); "
                        "overrides the plug-ins' label_map entry by entry")
    p.add_argument("--label-space", metavar="A,B,...",
                   help="target label space, comma-separated (default: FER7 angry,disgust,fear,happy,sad,surprise,neutral)")
    p.add_argument("--allow-partial", action="store_true",
                   help="fuse on the sample ids shared by every branch when the artifacts' ids differ (default: refuse)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds (default 0)")
    p.add_argument("--cross-fit-folds", type=int, default=5,
                   help="folds for the cross-fitted fit-split scores the temperature is fit on (0: in-sample; default 5)")
    p.add_argument("--calibration", default="temperature", choices=CALIBRATION_CHOICES,
                   help="how fused scores become probabilities, fit on the fit split: a temperature (the default), a "
                        "temperature and a per-class bias (temperature+bias), per-class isotonic maps after the "
                        "temperature (isotonic), or whichever of the three has the lowest cross-fitted ECE (auto)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier result in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(sub) -> None:
    ens = sub.add_parser("ensemble", help="face + voice pairs, fuse branches (mean / log-linear pool / stacking), ablate, conformal sets")
    esub = ens.add_subparsers(dest="ensemble_command", metavar="ACTION", required=True)

    ls = esub.add_parser("list-branches", help="installed branch plug-ins (entry-point group fer.branches)",
                         description="List the branch plug-ins installed in this environment: name, modality, label "
                                     "space, declared label map onto FER7, description.")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list_branches)

    q = esub.add_parser(
        "pairs", help="build per-branch run directories over face+voice pairs for 'fer ensemble fuse'",
        description="PSEUDO-PAIRS (default): pair every RAVDESS clip of the validation/test actors with a FER2013 "
                    "face of the same FER7 label (validation <- PublicTest, test <- PrivateTest; fixed seed) and "
                    "re-key each branch's existing artifact rows by pair id. These are not real recordings of one "
                    "person; they measure how complementary the branches' errors are. With --manifest (CSV: "
                    "sample_id, face, audio, label[, split]) the face, landmark and audio predictors run on truly "
                    "paired files instead. Then: fer ensemble fuse --branch OUT/face --branch OUT/landmarks "
                    "--branch OUT/audio --fit-split validation --eval-split test.",
    )
    q.add_argument("--out", required=True, type=Path, help="folder for one run directory per branch")
    q.add_argument("--audio-run", type=Path, required=True, help="audio run directory")
    q.add_argument("--face-run", type=Path, required=True, help="face run directory")
    q.add_argument("--landmark-run", type=Path, help="landmark run directory (optional)")
    q.add_argument("--manifest", type=Path, help="CSV of truly paired samples (sample_id, face, audio, label[, split])")
    q.add_argument("--seed", type=int, default=0, help="pairing seed (pseudo-pairs)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    add_device_argument(q)
    q.set_defaults(func=run_pairs)

    f = esub.add_parser(
        "fuse", help="fit a fusion of branch run dirs; writes a run dir + per-branch vs fused table",
        description="Fit a fusion on --fit-split, calibrate it (temperature), evaluate on --eval-split and write a "
                    "run directory: metrics.json, predictions/<split>.json (modality fusion; usable as a --branch), "
                    "fusion.json, comparison.{json,csv,md}, reliability.png. Methods: mean (average of probabilities), "
                    "logpool (weighted product of experts, weights fit by NLL), stacking (logistic regression on "
                    "log-probabilities, C chosen by cross-validation on the fit split). Missing branches per sample "
                    "are left out; samples with no branch are marked absent.",
    )
    _add_fusion_args(f)
    f.add_argument("--method", default="logpool", choices=("mean", "logpool", "stacking"), help="default logpool")
    f.add_argument("--name", help="branch name of the fused artifact (default fusion/<method>)")
    f.set_defaults(func=run_fuse)

    a = esub.add_parser(
        "ablate", help="fuse every non-empty subset of the branches; writes ablation.{json,csv,md}",
        description="Run the fuse protocol on every non-empty subset of --branch (for each --method) and tabulate "
                    "accuracy, macro-F1, NLL and ECE on --eval-split.",
    )
    _add_fusion_args(a)
    a.add_argument("--method", action="append", choices=("mean", "logpool", "stacking"),
                   help="fusion method (repeat for several; default logpool)")
    a.set_defaults(func=run_ablate)

    t = esub.add_parser(
        "teach", help="a fitted fusion applied to its members' Training predictions: a distillation teacher",
        description="Apply the fusion in FUSION_RUN to the Training-split predictions of the exact runs it was fit on "
                    "and write OUT/predictions/Training.json, the soft targets a student face net learns from "
                    "(fer face train ... --set train.teacher=OUT). Members write their Training predictions with "
                    "'fer face evaluate RUN --train-predictions' / 'fer landmarks evaluate RUN --train-predictions'.",
    )
    t.add_argument("fusion", type=Path, metavar="FUSION_RUN", help="fusion run directory (holds fusion.json)")
    t.add_argument("--out", required=True, type=Path, help="teacher directory to write")
    t.add_argument("--member", action="append", default=[], metavar="NAME=RUN_DIR",
                   help="where a member run lives now, by its fusion branch name (default: the run_dir fusion.json "
                        "recorded); its identity is still checked")
    t.add_argument("--split", default="Training", help="the training split (default Training)")
    t.add_argument("--overwrite", action="store_true", help="replace an earlier teacher in --out")
    t.set_defaults(func=run_teach)

    c = esub.add_parser(
        "conformal", help="split-conformal prediction sets (LAC / APS) for a branch or fusion run dir",
        description="Calibrate split-conformal prediction sets on --fit-split and report, on --eval-split, the "
                    "empirical coverage and mean set size, overall and per class. Writes conformal.json.",
    )
    c.add_argument("--run", required=True, type=Path, help="branch or fusion run directory")
    c.add_argument("--coverage", type=float, default=0.9, help="target coverage 1 - alpha (default 0.9)")
    c.add_argument("--method", default="lac", choices=("lac", "aps"), help="lac (smallest sets) or aps (adaptive); default lac")
    c.add_argument("--fit-split", default="PublicTest", help=FIT_HELP)
    c.add_argument("--eval-split", default="PrivateTest", help=EVAL_HELP)
    c.add_argument("--out", type=Path, help="directory for conformal.json (default: the run directory)")
    c.add_argument("--seed", type=int, default=0, help="seed of APS's randomisation (default 0)")
    c.add_argument("--no-randomize", action="store_true", help="APS without randomisation (conservative, larger sets)")
    c.add_argument("--class-conditional", action="store_true",
                   help="one threshold per class (Mondrian): coverage holds within every class, not just on average")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=run_conformal)


def _options(args: argparse.Namespace):
    from ensemble.fuse import FuseOptions

    space = [s.strip() for s in args.label_space.split(",") if s.strip()] if args.label_space else None
    return FuseOptions(fit_split=args.fit_split, eval_split=args.eval_split, label_space=space,
                       label_map_file=args.label_map, allow_partial=args.allow_partial, seed=args.seed,
                       cross_fit_folds=args.cross_fit_folds, calibration=args.calibration)


def run_list_branches(args: argparse.Namespace) -> int:
    from fer_core.branch import discover_branches

    errors: dict[str, str] = {}
    found = discover_branches(errors)
    rows = [cls.describe() for _, cls in sorted(found.items())]
    if args.json:
        print(json.dumps({"branches": rows, "failed": errors}, indent=2))
        return 0
    if not rows:
        print("no branch plug-ins installed (entry-point group fer.branches)")
    for r in rows:
        mapped = ", ".join(f"{k}->{v if v is not None else '(dropped)'}" for k, v in r["label_map"].items()) or "identity"
        print(f"{r['name']:<12} modality {r['modality']:<10} {r['class']}")
        print(f"{'':<12} labels: {', '.join(r['label_space'])}")
        print(f"{'':<12} label map to FER7: {mapped}")
        if r["description"]:
            print(f"{'':<12} {r['description']}")
    for name, err in errors.items():
        print(f"{name:<12} FAILED TO LOAD: {err}")
    return 0


def run_fuse(args: argparse.Namespace) -> int:
    from ensemble.fuse import run_fuse as fuse

    fuse(args.branch, method=args.method, out=args.out, options=_options(args), command=args.command_line,
         name=args.name, overwrite=args.overwrite)
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    from ensemble.ablate import run_ablate as ablate

    ablate(args.branch, methods=args.method or ["logpool"], out=args.out, options=_options(args),
           command=args.command_line, overwrite=args.overwrite, progress=not args.no_progress)
    return 0


def run_teach(args: argparse.Namespace) -> int:
    from ensemble.teach import teach

    members = {}
    for text in args.member:
        name, sep, run_dir = text.partition("=")
        if not sep or not name or not run_dir:
            raise UserError(f"--member {text}: expected NAME=RUN_DIR, e.g. --member 'face/vgg48_slim=runs/vgg48_slim'")
        members[name] = run_dir
    target = artifact_path(args.out, args.split)
    if target.exists() and not args.overwrite:
        raise UserError(f"{target} exists; pass --overwrite to replace it")
    teach(args.fusion, args.out, split=args.split, members=members, command=args.command_line)
    return 0


def run_conformal(args: argparse.Namespace) -> int:
    from ensemble.conformal import run_conformal as conformal

    report = conformal(args.run, coverage=args.coverage, method=args.method, fit_split=args.fit_split,
                       eval_split=args.eval_split, out=args.out, seed=args.seed, randomize=not args.no_randomize,
                       class_conditional=args.class_conditional, command=args.command_line, quiet=args.json)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def run_pairs(args: argparse.Namespace) -> int:
    from ensemble.pairs import pairs_cli

    recipe.check_flags(args, PAIRS_FLAG_RANGES)
    return pairs_cli(args)
