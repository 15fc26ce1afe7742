"""Does storing a published face model in float16 change its predictions? FER2013 PrivateTest, float32 vs float16.

    python bench/half_precision.py [--model NAME] --data data/fer2013.zip

Loads the float32 weights of the model's run (its best.pt, as 'fer models add' exports them), rounds every
floating-point tensor to float16 and back, and compares the calibrated probabilities on every PrivateTest image:
argmax agreement, largest probability change, accuracy of both. Without best.pt the float32 side is the run's
committed PrivateTest evaluation and the float16 side the shipped file.
Writes bench/results/half_precision.json; ``fer models add --half`` ships a model in float16.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from fer_core import atomic, zoo
from fer_core.artifact import load_run
from fer_core.calibration import calibrated_probs
from fer_face.data import load_fer2013
from fer_face.inference import tta_settings
from fer_face.models import model_from_config
from fer_face.predict import FaceModel
from fer_face.publish import export_run

OUT_DEFAULT = Path("bench/results/half_precision.json")


def face_model(entry: zoo.ZooModel, tensors: dict[str, torch.Tensor], dtype: str) -> FaceModel:
    """``entry``'s network with every floating-point tensor rounded to ``dtype`` and back."""
    net = model_from_config({**entry.config["model"], "pretrained": False}, len(entry.label_space))
    net.load_state_dict({k: v.to(getattr(torch, dtype)).float() if v.is_floating_point() else v
                         for k, v in tensors.items()})
    return FaceModel(net.eval(), name=entry.name, label_space=entry.label_space, calibrator=entry.calibrator,
                     views=tta_settings(entry.config["eval"]), fingerprint=entry.fingerprint, source=entry.name,
                     device=torch.device("cpu"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="published face model (default: the default face model)")
    ap.add_argument("--data", default="data/fer2013.zip")
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT)
    args = ap.parse_args()
    manifest = zoo.load_manifest()
    entry = manifest.model(args.model) if args.model else manifest.default_model("face")
    ds = load_fer2013(args.data)
    x, y = ds.split_arrays("PrivateTest")
    if (Path(entry.run) / "best.pt").is_file():
        tensors, _ = export_run(entry.run)
        reference = "float32 weights of the run (best.pt)"
        za, zb = (face_model(entry, tensors, dtype).logits_crops(x) for dtype in ("float32", "float16"))
    else:  # the run's weights are not here: its committed evaluation is the float32 side
        art = load_run(entry.run, "PrivateTest")
        reference = "the run's committed PrivateTest logits (float32 weights on the machine that evaluated the run)"
        za = art.logits[art.rows_of(ds.split_ids("PrivateTest"))]
        zb = FaceModel.from_zoo(entry, manifest=manifest, device="cpu").logits_crops(x)
    calibrator = entry.calibrator
    a, b = calibrator.probs(za), calibrator.probs(zb)
    ta, tb = (calibrated_probs(z, calibrator.temperature) for z in (za, zb))
    result = {
        "benchmark": "float16 storage of a face model: PrivateTest predictions against float32",
        "command": " ".join(["python bench/half_precision.py", *(["--model", args.model] if args.model else []),
                             "--data", f"data/{Path(args.data).name}",
                             *(["--out", args.out.as_posix()] if args.out != OUT_DEFAULT else [])]),
        "model": entry.name, "calibration": entry.calibrator.kind, "float32_side": reference, "n": int(len(y)),
        "argmax_agreement": float((a.argmax(1) == b.argmax(1)).mean()),
        "max_abs_probability_change": float(np.abs(a - b).max()),
        "max_abs_logit_change": float(np.abs(za - zb).max()),
        "temperature_alone": {"argmax_agreement": float((ta.argmax(1) == tb.argmax(1)).mean()),
                              "max_abs_probability_change": float(np.abs(ta - tb).max())},
        "accuracy_float32": float((a.argmax(1) == y).mean()), "accuracy_float16": float((b.argmax(1) == y).mean()),
        "threads": torch.get_num_threads(), "loadavg": [round(v, 2) for v in os.getloadavg()],
    }
    atomic.write_json(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
