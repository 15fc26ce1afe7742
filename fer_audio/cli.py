"""``fer audio``: the speech branch (RAVDESS): data-info, train, evaluate, cv, predict."""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_core import recipe
from fer_core.cli import add_device_argument
from fer_core.recipe import AT_LEAST_ONE, Range
from fer_audio.splits import MAX_FOLDS

SPLIT_HELP = ("actor-disjoint protocol: by default the fixed split (train actors 1-18, validation 19-20, "
              "test 21-24); --folds K --fold F selects fold F of K sex-balanced actor folds")
# flags that set a recipe field: checked against that field's range (fer_audio.config.RANGES), errors name the flag
FIELD_FLAGS = {"--model": "model.name", "--epochs": "train.epochs", "--seed": "train.seed", "--calm": "data.calm",
               "--threads": "train.threads"}
TRAIN_FLAG_RANGES = {"--stop-after": AT_LEAST_ONE}
CV_FLAG_RANGES = {"--folds": Range(2, MAX_FOLDS)}


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="RAVDESS speech zip or folder (any of WAV/FLAC, any sample rate; default: "
                                  "$FER_DATA_ROOT/ravdess-speech-16k.zip), or 'synthetic' for generated tones")


def _add_split(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folds", type=int, metavar="K", help=SPLIT_HELP)
    p.add_argument("--fold", type=int, metavar="F", help="fold to run (1..K) with --folds")


def _add_recipe(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", default="reference", help="built-in recipe name (reference) or a .toml path")
    p.add_argument("--model", help="override model.name: cnn-tiny, cnn-small, cnn, cnn-wide or timm:<name>")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--seed", type=int, help="override train.seed")
    p.add_argument("--calm", choices=("keep", "merge"), help="override data.calm: keep 8 classes or merge calm into neutral")
    p.add_argument("--threads", type=int, help="override train.threads (torch intra-op threads; 0 = torch default)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any recipe field, e.g. --set train.lr=0.001 (repeatable)")


def register(sub) -> None:
    audio = sub.add_parser("audio", help="speech branch (RAVDESS): train / evaluate / cv / predict")
    asub = audio.add_subparsers(dest="audio_command", metavar="ACTION", required=True)

    i = asub.add_parser("data-info", help="clips per split, emotion and actor of a RAVDESS source")
    _add_data(i)
    _add_split(i)
    i.set_defaults(func=run_data_info)

    t = asub.add_parser(
        "train", help="train a log-mel CNN on RAVDESS speech; writes a run directory",
        description="Train on the training actors, keep the epoch with the best validation accuracy, fit the "
                    "temperature on the validation actors and report the test actors. Writes config.json, "
                    "history.json, best.pt/last.pt, predictions/{validation,test}.json, metrics.json and plots.",
    )
    t.add_argument("--out", required=True, type=Path, help="run directory to create")
    _add_data(t)
    _add_split(t)
    _add_recipe(t)
    add_device_argument(t)
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last.pt")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--stop-after", type=int, metavar="N", help="stop after N epochs of this invocation")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=run_train)

    e = asub.add_parser(
        "evaluate", help="re-evaluate a run: calibration, artifacts, metrics.json",
        description="Load RUN's best.pt, score the validation and test actors, fit its calibrator on the validation "
                    "actors and write predictions/{validation,test}.json, metrics.json and the plots again.")
    e.add_argument("run", type=Path, help="run directory")
    _add_data(e)
    add_device_argument(e)
    e.set_defaults(func=run_evaluate)

    c = asub.add_parser("cv", help="k-fold cross-validation by actor: one run per fold plus a summary",
                        description="Train one run per actor fold under OUT/fold-F and write OUT/cv.json and "
                                    "OUT/cv.md with the per-fold and mean test metrics.")
    c.add_argument("--out", required=True, type=Path, help="folder for the fold runs and the summary")
    c.add_argument("--folds", type=int, default=6, help="number of actor folds (2..12, default 6)")
    _add_data(c)
    _add_recipe(c)
    add_device_argument(c)
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
    c.set_defaults(func=run_cv)

    p = asub.add_parser("predict", help="calibrated emotion probabilities for audio files",
                        description="Score WAV, FLAC, Ogg/Opus, AIFF, MP3, M4A/AAC (voice memos), WebM or AMR clips with a trained run. A bad clip is a one-line "
                                    "error; with --artifact, bad clips are kept in the artifact marked absent. A clip "
                                    "without speech is reported on its own line and not scored.")
    p.add_argument("files", nargs="+", type=Path, metavar="CLIP|DIR",
                   help="audio clips (any sample rate, mono or stereo), or folders searched for them")
    p.add_argument("--model", "--run", dest="model", metavar="NAME|RUN",
                   help="published model name ('fer models list') or a speech run directory (default: the shipped one)")
    p.add_argument("--weights", type=Path, metavar="FILE",
                   help="weights of a published model that does not ship (checked against the manifest's sha256)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--coverage", type=float, metavar="P",
                   help="also each clip's conformal prediction set at coverage P (0.8, 0.9 or 0.95; per class, "
                        "calibrated on the validation actors)")
    p.add_argument("--artifact", type=Path, metavar="PATH",
                   help="also write a predictions artifact (split 'predict'); unscorable clips are marked absent")
    p.add_argument("--no-speech-detection", action="store_true",
                   help="score every clip; by default a clip in which the speech detector (Silero VAD) finds speech "
                        "in under 20%% of its 32 ms frames (music, noise, a tone) is reported and not scored")
    add_device_argument(p)
    p.set_defaults(func=run_predict)



def resolve_config(args: argparse.Namespace) -> dict:
    from fer_audio.config import apply_overrides, load_recipe

    return apply_overrides(load_recipe(args.recipe), args.set, recipe.flag_overrides(args, FIELD_FLAGS))


def run_data_info(args: argparse.Namespace) -> int:
    from fer_audio.data import load_ravdess
    from fer_audio.report import data_info_table
    from fer_audio.splits import resolve_split

    ds = load_ravdess(args.data, progress=True)
    print(data_info_table(ds, resolve_split(args.folds, args.fold)))
    return 0


def run_train(args: argparse.Namespace) -> int:
    from fer_audio.splits import resolve_split
    from fer_audio.train import train

    recipe.check_flags(args, TRAIN_FLAG_RANGES)
    cfg = resolve_config(args)
    train(cfg, data=args.data, out=args.out, command=args.command_line, split=resolve_split(args.folds, args.fold),
          resume=args.resume, overwrite=args.overwrite, device=args.device, stop_after=args.stop_after,
          progress=not args.no_progress)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from fer_audio.data import load_ravdess
    from fer_audio.evaluate import evaluate_run, load_run_config

    saved = load_run_config(args.run)
    ds = load_ravdess(args.data or saved["data"]["source"], sample_rate=saved["config"]["data"]["sample_rate"],
                      seed=saved["config"]["train"]["seed"])
    evaluate_run(args.run, ds, command=args.command_line, device=args.device)
    return 0


def run_cv(args: argparse.Namespace) -> int:
    from fer_audio.crossval import cross_validate

    recipe.check_flags(args, CV_FLAG_RANGES)
    cross_validate(resolve_config(args), data=args.data, out=args.out, folds=args.folds, command=args.command_line,
                   device=args.device, progress=not args.no_progress)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from fer_audio.predict import predict_cli

    return predict_cli(args)
