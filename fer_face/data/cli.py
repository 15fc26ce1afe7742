"""``fer data-info PATH``: counts per split x class, image size, layout and cache path."""

from __future__ import annotations

import argparse
import json

DATA_HELP = (
    "FER2013 source: fer2013.csv, the Kaggle zip, its extracted folder, or 'synthetic' "
    "(default: look in $FER_DATA_ROOT or ./data)"
)


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, metavar="PATH", help=DATA_HELP)
    p.add_argument("--strict-size", action="store_true", help="refuse images that are not 48x48 instead of resizing them")


def register(sub) -> None:
    p = sub.add_parser("data-info", help="describe a FER2013 source: counts per split x class, layout, cache")
    p.add_argument("path", nargs="?", default=None, help=DATA_HELP)
    p.add_argument("--strict-size", action="store_true", help="refuse images that are not 48x48 instead of resizing them")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fer_face.data import SPLITS, load_fer2013

    ds = load_fer2013(args.path, strict_size=args.strict_size, progress=not args.json)
    counts = ds.counts()
    info = {
        "dataset": ds.name,
        "source": ds.source,
        "layout": ds.layout,
        "cache_path": ds.cache_path,
        "image_size": list(ds.images.shape[1:]),
        "n": len(ds),
        "label_space": list(ds.label_space),
        "counts": {s: dict(zip(ds.label_space, counts[s])) for s in SPLITS},
        "notes": ds.notes,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(c) for c in ds.label_space) + 2
    header = f"{'split':<12}" + "".join(f"{c:>{width}}" for c in ds.label_space) + f"{'total':>8}"
    print(("SYNTHETIC DATA - " if ds.synthetic else "") + f"{ds.name}: {ds.source}")
    print(f"layout {ds.layout}, {len(ds)} images of {ds.images.shape[1]}x{ds.images.shape[2]} uint8 grayscale")
    print(f"cache  {ds.cache_path or '(none)'}")
    print(header)
    for s in SPLITS:
        print(f"{s:<12}" + "".join(f"{n:>{width}}" for n in counts[s]) + f"{sum(counts[s]):>8}")
    for note in ds.notes:
        print(f"note: {note}")
    return 0
