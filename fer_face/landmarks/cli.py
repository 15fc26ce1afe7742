"""``fer landmarks``: extract, train, evaluate, overlay and predict with the landmark (geometry) branch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fer_core import recipe
from fer_core.recipe import AT_LEAST_ONE
from fer_face.data.cli import add_data_args

# flags that set a config field: checked against that field's range (fer_face.landmarks.config.RANGES)
FIELD_FLAGS = {"--epochs": "mlp.epochs", "--seed": "mlp.seed"}
WORKER_FLAG_RANGES = {"--workers": AT_LEAST_ONE}


def register(sub) -> None:
    lm = sub.add_parser("landmarks", help="landmark (geometry) branch: extract / train / evaluate / overlay / predict",
                        description="68-point dlib landmarks -> normalised geometric features -> calibrated emotion "
                                    "probabilities. See docs/landmarks.md.")
    lsub = lm.add_subparsers(dest="landmarks_command", metavar="ACTION", required=True)

    x = lsub.add_parser("extract", help="extract (and cache) the landmarks of every FER2013 image",
                        description="Run dlib's 68-point shape predictor on every image of the dataset, in parallel "
                                    "worker processes, and cache the result next to the decoded-data cache. "
                                    "A later train/evaluate reuses the cache.")
    add_data_args(x)
    x.add_argument("--workers", type=int, default=None, help="worker processes (default: all usable cores)")
    x.add_argument("--no-cache", action="store_true", help="extract again even if cached, and do not write the cache")
    x.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    x.add_argument("--no-progress", action="store_true", help="no progress bar")
    x.set_defaults(func=run_extract)

    t = lsub.add_parser("train", help="train the landmark classifier; writes a run directory",
                        description="Fit on Training, choose the epoch (mlp) or C (logreg) and fit the temperature on "
                                    "PublicTest, report PrivateTest. Writes model.pt, config.json, history.json, "
                                    "metrics.json, predictions/{PublicTest,PrivateTest}.json and PNG plots.")
    t.add_argument("--out", required=True, type=Path, help="run directory to create")
    add_data_args(t)
    t.add_argument("--model", choices=("mlp", "logreg"), default="mlp",
                   help="mlp: small torch MLP (the branch default); logreg: scikit-learn logistic-regression baseline")
    t.add_argument("--recipe", metavar="NAME|TOML",
                   help="a recipe file over the branch defaults: fer2013/geometry (the defaults, shipped as "
                        "landmarks_geometry), fer2013/geometry_hog, or a .toml path")
    t.add_argument("--epochs", type=int, help="override mlp.epochs")
    t.add_argument("--seed", type=int, help="override mlp.seed")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config field (JSON values), e.g. --set mlp.hidden=[256,128] "
                        "or --set features.groups='[\"coords\"]' (repeatable). Feature groups: coords, descriptors, "
                        "distances (geometry, the default) and aligned_hog (HOG of the landmark-aligned face; "
                        "see docs/landmarks.md)")
    t.add_argument("--workers", type=int, default=None, help="extraction worker processes if not cached (default: all cores)")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=run_train)

    e = lsub.add_parser("evaluate", help="re-evaluate a run: calibration, artifacts, metrics.json",
                        description="Recompute the logits of a run's model.pt, refit the temperature on PublicTest and "
                                    "rewrite its artifacts and metrics.json.")
    e.add_argument("run", type=Path, help="landmark run directory")
    add_data_args(e)
    e.add_argument("--workers", type=int, default=None, help="extraction worker processes if not cached")
    e.add_argument("--train-predictions", action="store_true",
                   help="also write predictions/Training.json (in-sample): what 'fer ensemble teach' builds a "
                        "distillation teacher from")
    e.set_defaults(func=run_evaluate)

    o = lsub.add_parser("overlay", help="draw the 68 landmarks on an image (PNG)",
                        description="Find the face (or take the image as a face crop) and write a PNG with the 68 "
                                    "points and the face box drawn on it.")
    o.add_argument("image", type=Path, help="a photo or a face crop (JPEG/PNG/...)")
    o.add_argument("--out", type=Path, required=True, help="PNG to write")
    o.add_argument("--mode", choices=("auto", "photo", "crop"), default="auto",
                   help="photo: detect the most confident face first; crop: the image is a face crop (FER2013 style); "
                        "auto: crop for images of at most 128 px, else photo (default)")
    o.set_defaults(func=run_overlay)

    p = lsub.add_parser("predict", help="calibrated emotion probabilities from landmarks of images",
                        description="Landmarks of the most confident face (or of the crop) -> calibrated probabilities.")
    p.add_argument("images", nargs="+", type=Path, help="photos or face crops")
    p.add_argument("--model", "--run", dest="model", metavar="NAME|RUN",
                   help="published model name ('fer models list') or a landmark run directory (default: the shipped one)")
    p.add_argument("--mode", choices=("auto", "photo", "crop"), default="auto", help="as for overlay")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_predict)


def resolve_config(args: argparse.Namespace) -> dict:
    from fer_face.landmarks.config import apply_overrides, load_recipe

    return apply_overrides(load_recipe(getattr(args, "recipe", None)), args.set,
                           recipe.flag_overrides(args, FIELD_FLAGS))


def run_extract(args: argparse.Namespace) -> int:
    from fer_face.data import load_fer2013
    from fer_face.landmarks.cache import dataset_landmarks

    recipe.check_flags(args, WORKER_FLAG_RANGES)
    ds = load_fer2013(args.data, strict_size=args.strict_size, progress=not args.no_progress)
    lms, info = dataset_landmarks(ds, workers=args.workers, use_cache=not args.no_cache,
                                  progress=not args.no_progress)
    info["missing"] = lms.reason_counts()
    info["n_present"] = int(lms.present.sum())
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    how = "from cache" if info["cached"] else f"extracted in {info['extract_seconds']:.1f}s with {info['workers']} worker(s)"
    missing = ", ".join(f"{k} {v}" for k, v in info["missing"].items() if v) or "none"
    print(f"{ds.name}: landmarks for {info['n_present']}/{len(ds)} images {how}; missing: {missing}")
    print(f"cache  {info['cache_path'] if not args.no_cache else '(not written: --no-cache)'}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from fer_face.landmarks.train import train

    recipe.check_flags(args, WORKER_FLAG_RANGES)
    train(resolve_config(args), args.model, data=args.data, out=args.out, command=args.command_line, workers=args.workers,
          overwrite=args.overwrite, progress=not args.no_progress, strict_size=args.strict_size)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from fer_face.data import load_fer2013
    from fer_face.landmarks.cache import dataset_landmarks
    from fer_face.landmarks.evaluate import evaluate_run, load_run_config

    recipe.check_flags(args, WORKER_FLAG_RANGES)
    saved = load_run_config(args.run)
    ds = load_fer2013(args.data or saved["data"]["source"], strict_size=args.strict_size)
    lms, info = dataset_landmarks(ds, workers=args.workers, progress=True)
    evaluate_run(args.run, ds, lms, command=args.command_line, landmark_info=info,
                 train_predictions=args.train_predictions)
    return 0


def run_overlay(args: argparse.Namespace) -> int:
    from fer_core.atomic import atomic_path
    from fer_face.faces import load_image
    from fer_face.landmarks.overlay import draw_landmarks
    from fer_face.landmarks.predict import find_landmarks

    image = load_image(args.image)
    lm, used = find_landmarks(image, args.mode)
    with atomic_path(args.out, suffix=".png") as tmp:
        draw_landmarks(image, lm.points, lm.box).save(tmp, format="PNG")
    if lm.present:
        print(f"{args.image}: 68 landmarks ({used} mode) drawn to {args.out}")
        return 0
    # no usable landmarks is a result, not an error (exit 0): the PNG shows the image (and box) without points
    print(f"{args.image}: no usable landmarks ({lm.reason}, {used} mode); wrote the image without points to {args.out}",
          file=sys.stderr)
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from fer_face.landmarks.predict import load_model

    predictor = load_model(args.model)
    rows = []
    for path in args.images:
        r = predictor.predict_file(path, args.mode)
        probs = None if r["probs"] is None else dict(zip(r["label_space"], map(float, r["probs"])))
        rows.append({"image": str(path), "present": r["present"], "reason": r["reason"], "mode": r["mode"],
                     "box": None if r["box"] is None else [float(v) for v in r["box"]], "probs": probs,
                     "prediction": None if probs is None else max(probs, key=probs.get)})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            if r["present"]:
                top = sorted(r["probs"].items(), key=lambda kv: -kv[1])[:3]
                print(f"{r['image']}: {r['prediction']}  (" + ", ".join(f"{k} {v:.2f}" for k, v in top) + ")")
            else:
                print(f"{r['image']}: no usable landmarks ({r['reason']})")
    return 0
