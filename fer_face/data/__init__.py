"""FER2013 data layer: one API for the challenge CSV, the Kaggle image folders and that tree in a zip.

    from fer_face.data import load_fer2013
    ds = load_fer2013("data/fer2013.zip")        # or fer2013.csv, or an extracted folder, or "synthetic"
    x, y = ds.split_arrays("Training")            # uint8 (N, 48, 48), int64 (N,)
"""

from fer_face.data.dataset import SPLITS, FER2013Data
from fer_face.data.load import load_fer2013, resolve_data_arg

__all__ = ["SPLITS", "FER2013Data", "load_fer2013", "resolve_data_arg"]
