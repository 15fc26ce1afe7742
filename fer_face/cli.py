"""``fer face``: train, evaluate, compare and predict with the face-appearance branch.

Each subcommand imports its module when it runs: torch and timm load only for the command that needs them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_core import recipe
from fer_core.cli import add_device_argument
from fer_core.recipe import AT_LEAST_ONE
from fer_face.data.cli import add_data_args
from fer_face.models.registry import paper_backbones

TRAIN_FLAG_RANGES = {"--stop-after": AT_LEAST_ONE}


def register(sub) -> None:
    face = sub.add_parser("face", help="face-appearance branch: train / evaluate / compare / predict / crop")
    fsub = face.add_subparsers(dest="face_command", metavar="ACTION", required=True)

    t = fsub.add_parser(
        "train", help="train a backbone with a recipe; writes a run directory",
        description="Train a timm backbone + Dense-Dense head on FER2013 Training, pick the best epoch on "
                    "PublicTest, fit the temperature on PublicTest and report PrivateTest. "
                    "Multi-GPU/multi-machine: launch the same command with torchrun.",
    )
    t.add_argument("--backbone", help="registered backbone (e.g. mobilenetv2_100, efficientnet_b0, vgg48_slim); "
                                      "optional when the recipe names one (model.backbone)")
    t.add_argument("--recipe", default="improved",
                   help="built-in recipe (paper, improved, or a published model's own, e.g. fer2013/vgg48_slim) "
                        "or a .toml path")
    t.add_argument("--out", required=True, type=Path, help="run directory to create")
    add_data_args(t)
    t.add_argument("--epochs", type=int, help="override train.epochs")
    t.add_argument("--batch-size", type=int, help="override train.batch_size (global, across processes)")
    t.add_argument("--lr", type=float, help="override train.lr")
    t.add_argument("--seed", type=int, help="override train.seed")
    t.add_argument("--input-size", type=int, help="override model.input_size (48 = native; larger upsamples)")
    t.add_argument("--pretrained", nargs="?", const="true", default=None, metavar="FILE",
                   help="start from ImageNet weights (timm hub, needs network) or from a local weights FILE")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any recipe field, e.g. --set augment.rotate_deg=15 (repeatable)")
    add_device_argument(t)
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last.pt")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--init-from", metavar="RUN_OR_CKPT_OR_MODEL",
                   help="warm restart or fine-tuning: start from the weights of a finished run (its best.pt), a "
                        "checkpoint file, or a published face model by name (fer models list; with its recipe, e.g. "
                        "--recipe fer2013/vgg48_slim --init-from vgg48_slim); optimizer, schedule and epochs start "
                        "afresh")
    t.add_argument("--stop-after", type=int, metavar="N", help="stop after N epochs of this invocation (time-boxed jobs)")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the training step (fewer, fused kernels; the first epoch pays the "
                        "compilation)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=run_train)

    e = fsub.add_parser(
        "evaluate", help="re-evaluate a run's best checkpoint: calibration, artifacts, metrics.json",
        description="Load RUN's best.pt, score PublicTest and PrivateTest with the run's test-time views, fit its "
                    "calibrator on PublicTest and write predictions/{PublicTest,PrivateTest}.json, metrics.json and "
                    "the plots again (e.g. after --set eval.KEY=VALUE or on another machine).")
    e.add_argument("run", type=Path, help="run directory")
    add_data_args(e)
    add_device_argument(e)
    e.add_argument("--set", action="append", default=[], metavar="eval.KEY=VALUE",
                   help="change an evaluation setting and save it in the run's config, e.g. --set eval.tta_shift_px=2 "
                        "(test-time views; choose on PublicTest, never on PrivateTest)")
    e.add_argument("--train-predictions", action="store_true",
                   help="also write predictions/Training.json (the run's views and temperature; in-sample): what "
                        "'fer ensemble teach' builds a distillation teacher from")
    e.set_defaults(func=run_evaluate)

    c = fsub.add_parser(
        "compare", help="train or collect the paper's three backbones and write the comparison table",
        description="Collect the finished run of each backbone under RUNS/<backbone> (with --train-missing, train "
                    "the missing ones with --recipe first) and write comparison.{md,csv,json}: train and PrivateTest "
                    "accuracy, macro-F1, NLL, ECE, temperature and epochs beside the paper's Table 1. With --improved-runs, "
                    "also the three-group table (paper | --recipe runs | improved runs) and Figure 6 redrawn. "
                    "Example: fer face compare --recipe paper --runs runs/paper --data data/fer2013.zip "
                    "--improved-runs runs/improved --out results/fer2013/paper")
    c.add_argument("--recipe", default="improved", help="recipe for runs that must be trained")
    c.add_argument("--runs", type=Path, required=True, help="root holding one run directory per backbone")
    c.add_argument("--backbones", nargs="+", default=paper_backbones(),
                   help="backbones to compare, one run directory each (default: the paper's three)")
    c.add_argument("--train-missing", action="store_true", help="train backbones that have no finished run under --runs")
    c.add_argument("--out", type=Path, help="where to write comparison.{md,csv,json} (default: --runs)")
    add_data_args(c)
    c.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a recipe setting of the runs it trains, e.g. --set train.epochs=50")
    c.add_argument("--compile", action="store_true", help="torch.compile the training step of runs it trains")
    c.add_argument("--improved-runs", type=Path, metavar="DIR",
                   help="also write paper-table.{md,csv,json} (paper | --recipe runs | improved-recipe runs found "
                        "under DIR) and paper-figure6.png (training loss per epoch, both recipes)")
    c.add_argument("--improved-recipe", default="improved", help="recipe of the runs under --improved-runs")
    c.set_defaults(func=run_compare)

    p = fsub.add_parser("predict", help="calibrated emotion probabilities for face crops or photos (shipped model)",
                        description="Face-appearance branch alone; 'fer predict' adds the landmarks and the fusion.")
    p.add_argument("images", nargs="+", type=Path,
                   help="48x48 face crops or ordinary photos (the most confident face is used)")
    p.add_argument("--model", "--run", dest="model", metavar="NAME|RUN",
                   help="published model name ('fer models list') or a face run directory (default: the shipped one)")
    p.add_argument("--weights", type=Path, metavar="FILE",
                   help="weights of a published model that does not ship (checked against the manifest's sha256)")
    p.add_argument("--all-faces", action="store_true", help="every face in each photo, most confident first")
    p.add_argument("--detector", default="hog", choices=("hog", "cnn"), help="face detector (see docs/faces.md)")
    p.add_argument("--min-face", type=int, metavar="PX",
                   help="smallest face side to look for, in px of the photo (default: 80 px at the photo's size); "
                        "larger values detect faster")
    p.add_argument("--no-level", action="store_true",
                   help="cut each face as it stands (default: turned so its eyes are level; docs/faces.md)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_device_argument(p)
    p.set_defaults(func=run_predict)

    k = fsub.add_parser("crop", help="cut the face out of every photo of a <split>/<class>/ tree, for training",
                        description="Your own photos in train/<class>/, val/<class>/ and test/<class>/ folders -> the "
                                    "same tree of 48x48 grey face crops (the most confident face, cut as 'fer predict' "
                                    "cuts it). Then: fer face train --data OUT --recipe fer2013/vgg48_slim --init-from "
                                    "vgg48_slim --epochs 10 --lr 1e-4 --out runs/mine")
    k.add_argument("photos", type=Path, help="folder of photos: <split>/<class>/<file>")
    k.add_argument("--out", type=Path, required=True, help="folder to write the crops to (same layout, .png)")
    k.add_argument("--detector", default="hog", choices=("hog", "cnn"), help="face detector (see docs/faces.md)")
    k.add_argument("--min-face", type=int, metavar="PX", help="smallest face side to look for, in px of the photo")
    k.add_argument("--no-level", action="store_true",
                   help="cut each face as it stands (default: turned so its eyes are level; docs/faces.md)")
    k.add_argument("--no-progress", action="store_true", help="no progress bar")
    k.set_defaults(func=run_crop)


def run_train(args: argparse.Namespace) -> int:
    from fer_face.config import resolve_config
    from fer_face.train import train

    recipe.check_flags(args, TRAIN_FLAG_RANGES)
    train(resolve_config(args), data=args.data, out=args.out, command=args.command_line, resume=args.resume,
          overwrite=args.overwrite, device=args.device, stop_after=args.stop_after, progress=not args.no_progress,
          strict_size=args.strict_size, compile_model=args.compile)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from fer_face.config import apply_overrides
    from fer_face.data import load_fer2013
    from fer_face.evaluate import evaluate_run, load_run_config

    saved = load_run_config(args.run)
    apply_overrides(saved["config"], args.set)  # refuse bad values before the dataset loads
    ds = load_fer2013(args.data or saved["data"]["source"], strict_size=args.strict_size)
    evaluate_run(args.run, ds, command=args.command_line, device=args.device, eval_overrides=args.set,
                 train_predictions=args.train_predictions)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from fer_face.compare import compare

    compare(args.backbones, runs=args.runs, recipe=args.recipe, out=args.out, train_missing=args.train_missing,
            overrides=args.set, data=args.data, command=args.command_line, strict_size=args.strict_size,
            compile_model=args.compile, improved_runs=args.improved_runs, improved_recipe=args.improved_recipe)
    return 0


def run_crop(args: argparse.Namespace) -> int:
    from fer_face.crop_tree import crop_cli

    return crop_cli(args)


def run_predict(args: argparse.Namespace) -> int:
    from fer_face.predict import predict_cli

    return predict_cli(args)
