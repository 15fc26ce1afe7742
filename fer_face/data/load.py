"""``load_fer2013``: detect the layout, decode once, cache, and return a FER2013Data."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from fer_core.errors import DataError
import fer_face.data.cache as cache
from fer_face.data.dataset import FER2013Data
from fer_face.data.readers import read_csv, read_folder, read_zip
from fer_face.data.synthetic import make_synthetic

SYNTHETIC = "synthetic"
DEFAULT_DATA_DIR = "data"
MISSING_DATA_HELP = (
    "no FER2013 found in {where}/: download FER2013 from Kaggle (the image-folder archive "
    "'msambare/fer2013' as fer2013.zip, or the challenge CSV fer2013.csv) and put it in {where}/ "
    "(or extract its train/ and test/ folders there), or pass --data PATH; --data synthetic runs on a generated smoke set"
)


def data_root() -> Path:
    """Where datasets live: $FER_DATA_ROOT, else ./data."""
    return Path(os.environ.get("FER_DATA_ROOT") or DEFAULT_DATA_DIR)


def resolve_data_arg(arg: str | None) -> str:
    """Turn a --data value (None = look in the data root) into a path or 'synthetic'."""
    if arg == SYNTHETIC:
        return SYNTHETIC
    if arg:
        return arg
    root = data_root()
    candidates = [root / "fer2013.zip", root / "fer2013.csv", root / "fer2013" / "fer2013.csv", root / "fer2013"]
    candidates += sorted(root.glob("*fer*.zip")) + [root]
    for c in candidates:
        if c.is_file() or (c.is_dir() and ((c / "train").is_dir() or (c / "Training").is_dir())):
            return str(c)
    raise DataError(MISSING_DATA_HELP.format(where=root))


def detect_layout(path: Path) -> str:
    if path.is_dir():
        return "folder"
    if path.suffix.lower() == ".csv":
        return "csv"
    if zipfile.is_zipfile(path):
        return "zip"
    raise DataError(f"{path}: not a FER2013 source; expected fer2013.csv, a .zip of train/ test/ folders, or such a folder")


def _progress(desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return lambda it: tqdm(it, desc=desc, unit="img", mininterval=0.5, file=sys.stderr)


def load_fer2013(
    path: str | os.PathLike | None = None,
    *,
    strict_size: bool = False,
    use_cache: bool = True,
    progress: bool = False,
    seed: int = 0,
) -> FER2013Data:
    """Load FER2013 from a CSV, an image-folder tree, a zip of that tree, or 'synthetic'.

    Non-48x48 images are resized to 48x48 and a note says how many; ``strict_size`` refuses them instead.
    """
    spec = resolve_data_arg(None if path is None else str(path))
    if spec == SYNTHETIC:
        images, labels, ids, splits = make_synthetic(seed)
        return FER2013Data(
            images, labels, ids, splits, source=SYNTHETIC, layout="synthetic", name="synthetic",
            notes=["SYNTHETIC smoke-test data (generated faces), not FER2013: numbers are not comparable"],
        )
    src = Path(spec)
    if not src.exists():
        raise DataError(f"{src}: no such file or directory; pass --data with a FER2013 CSV, zip or folder")
    layout = detect_layout(src)
    cache_file = None
    if use_cache:
        try:
            cache_file = cache.cache_path_for(cache.source_key(src, layout, strict_size), layout)
        except (OSError, zipfile.BadZipFile) as e:
            raise DataError(f"{src}: cannot read ({e})") from None
        hit = cache.load(cache_file)
        if hit is not None:
            return FER2013Data(
                hit["images"], hit["labels"], hit["ids"], hit["splits"], source=str(src), layout=layout,
                notes=hit["notes"], cache_path=str(cache_file),
            )
    bar = _progress(f"decoding {src.name}", progress)
    if layout == "csv":
        decoded = read_csv(src)
    elif layout == "zip":
        decoded = read_zip(src, strict_size, bar)
    else:
        decoded = read_folder(src, strict_size, bar)
    if cache_file is not None:
        try:
            cache.save(cache_file, decoded.images, decoded.labels, decoded.ids, decoded.splits, decoded.notes)
        except OSError as e:
            print(f"warning: could not write the data cache {cache_file} ({e}); continuing without it", file=sys.stderr)
            cache_file = None
    return FER2013Data(
        decoded.images, decoded.labels, decoded.ids, decoded.splits, source=str(src), layout=layout,
        notes=decoded.notes, cache_path=None if cache_file is None else str(cache_file),
    )
