"""``fer face crop``: a folder of one's own photos in a <split>/<class>/ tree -> the same tree of 48x48 grey face
crops, cut exactly as ``fer predict`` cuts them, ready for ``fer face train --data`` (fine-tuning a published model
on one's own faces: ``--init-from NAME``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from fer_core import atomic
from fer_core.errors import DataError, UserError
from fer_face.data.readers import classify
from fer_face.faces import load_image
from fer_face.predict import face_crops


def photos_in_tree(root: Path) -> list[Path]:
    """Image files at <split>/<class>/<file> under ``root`` (sorted): the files ``fer face train --data`` would
    read from this tree (the reader's own ``classify``)."""
    return [path for path in sorted(root.rglob("*"))
            if path.is_file() and len(path.relative_to(root).parts) == 3
            and classify(path.relative_to(root).parts, str(path)) is not None]


def crop_tree(src: Path, out: Path, *, detector: str = "hog", min_face: int | None = None, level: bool = True,
              progress: bool = True) -> dict[str, list[str]]:
    """Write the most confident face of every photo under ``src`` to ``out`` (same relative path, ``.png``).

    Returns the files written and, per file, the ones skipped: no face found, or unreadable. Each crop is written
    atomically, so an interrupted run leaves whole files only.
    """
    if not src.is_dir():
        raise UserError(f"{src}: not a folder; expected <split>/<class>/ photos, e.g. train/happy/1.jpg")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise UserError(f"--out {out}: must lie outside {src}")
    photos = photos_in_tree(src)
    if not photos:
        raise UserError(f"{src}: no photos in a <split>/<class>/ layout (e.g. train/happy/1.jpg, val/sad/2.jpg, "
                        "test/angry/3.jpg)")
    report: dict[str, list[str]] = {"written": [], "no_face": [], "unreadable": []}
    for path in tqdm(photos, desc="cropping", unit="photo", disable=not progress, file=sys.stderr):
        rel = path.relative_to(src)
        try:
            crops = face_crops(load_image(path), detector=detector, min_face=min_face, level=level)
        except DataError as e:
            report["unreadable"].append(f"{rel}: {e}")
            continue
        if not crops:
            report["no_face"].append(str(rel))
            continue
        with atomic.atomic_path((out / rel).with_suffix(".png")) as tmp:
            Image.fromarray(crops[0].pixels).save(tmp, format="PNG")
        report["written"].append(str(rel.with_suffix(".png")))
    return report


def crop_cli(args) -> int:
    report = crop_tree(args.photos, args.out, detector=args.detector, min_face=args.min_face,
                       level=not args.no_level, progress=not args.no_progress)
    for rel in report["no_face"]:
        print(f"{rel}: no face found, skipped", file=sys.stderr)
    for line in report["unreadable"]:
        print(f"{line}, skipped", file=sys.stderr)
    print(f"{len(report['written'])} face crop(s) written to {args.out}{os.sep} "
          f"({len(report['no_face'])} without a face, {len(report['unreadable'])} unreadable)", file=sys.stderr)
    return 0 if report["written"] else 2
