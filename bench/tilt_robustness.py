"""How much a tilted head costs a face model: PrivateTest crops turned by a few angles, accuracy at each.

    python bench/tilt_robustness.py [MODEL|RUN] [--data data/fer2013.zip] [--angles 0 10 20 30]
                                    [--out bench/results/tilt_robustness.json]

FER2013's faces are roughly upright, and ``fer predict`` crops a detected face as it stands in the photo. Each
PrivateTest crop is turned by +angle or -angle (alternating, so the two directions weigh alike) about its centre,
the border replicated outward first so that no black corners enter the crop, and scored with the model's own
test-time views and calibration. The accuracy lost at 10-30 degrees is what levelling the eyes before cropping
could win back on ordinary photos.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_record import write_record  # noqa: E402


def turned(crop: np.ndarray, degrees: float) -> np.ndarray:
    """A (48, 48) uint8 crop turned counter-clockwise by ``degrees`` about its centre, edges replicated."""
    if degrees == 0:
        return crop
    pad = crop.shape[0] // 2
    big = Image.fromarray(np.pad(crop, pad, mode="edge")).rotate(degrees, resample=Image.Resampling.BILINEAR)
    return np.asarray(big)[pad:pad + crop.shape[0], pad:pad + crop.shape[1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="published face model or run directory (default: the shipped one)")
    parser.add_argument("--data", default=None, help="FER2013 source (default: $FER_DATA_ROOT or data/)")
    parser.add_argument("--angles", type=float, nargs="+", default=[0, 10, 20, 30], help="degrees")
    parser.add_argument("--out", type=Path, default=Path("bench/results/tilt_robustness.json"))
    args = parser.parse_args()

    from fer_face.data import load_fer2013
    from fer_face.predict import load_model

    model = load_model(args.model)
    x, y = load_fer2013(args.data).split_arrays("PrivateTest")
    rows = []
    for angle in args.angles:
        crops = np.stack([turned(c, angle if i % 2 else -angle) for i, c in enumerate(x)])
        probs = model.predict_crops(crops)
        rows.append({"degrees": angle, "accuracy": float((probs.argmax(1) == y).mean())})
        print(f"{angle:g} degrees: {rows[-1]['accuracy']:.2%}", file=sys.stderr, flush=True)
    write_record(args.out, {"benchmark": "PrivateTest accuracy of face crops turned by +-angle (alternating)",
                            "model": model.name, "source": model.source, "n": int(len(y)), "rows": rows})


if __name__ == "__main__":
    main()
