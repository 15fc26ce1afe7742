"""``fer face predict``: calibrated emotion probabilities for face crops and ordinary photos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fer_core.calibration import calibrated_probs
from fer_core.errors import DataError, UserError
from fer_face.data.dataset import IMAGE_SIZE
from fer_face.faces import crop_face, largest_face, load_image, to_gray

CROP_MAX_SIDE = 64  # images this small are taken as face crops already (FER2013 style), no detection


class FacePredictor:
    """A trained face run (``config.json`` + ``best.pt`` + ``metrics.json``) ready for single images."""

    def __init__(self, run_dir: str | Path, device: str = "auto"):
        from fer_face.distributed import pick_device
        from fer_face.evaluate import load_run_model
        from fer_face.inference import tta_settings

        self.run_dir = Path(run_dir)
        metrics_path = self.run_dir / "metrics.json"
        if not metrics_path.is_file():
            raise UserError(f"{self.run_dir}: no metrics.json; train or evaluate the run before predicting")
        metrics = json.loads(metrics_path.read_text())
        self.temperature = float(metrics["temperature"])
        self.label_space = tuple(metrics["label_space"])
        self.device = pick_device(device)
        self.model, saved = load_run_model(self.run_dir, self.device)
        if self.device.type == "cpu":
            from fer_face.inference import fastest_for_cpu

            self.model = fastest_for_cpu(self.model)
        self.views = tta_settings(saved["config"]["eval"])
        self.branch = metrics.get("branch", "face")

    def face_crop(self, image: Image.Image | np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        gray = to_gray(image)
        h, w = gray.shape
        if max(h, w) <= CROP_MAX_SIDE:
            crop = np.asarray(Image.fromarray(gray).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))
            return crop, None
        box = largest_face(gray)
        if box is None:
            raise DataError("no face found in the image; use a frontal face photo or a 48x48 face crop")
        return crop_face(gray, box, size=IMAGE_SIZE), tuple(box)

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        from fer_face.inference import predict_logits

        logits = predict_logits(self.model, crops, device=self.device, **self.views)
        return calibrated_probs(logits, self.temperature)

    def predict_image(self, image: Image.Image | np.ndarray) -> dict[str, Any]:
        crop, box = self.face_crop(image)
        probs = self.predict_crops(crop[None])[0]
        return {"probs": probs, "label_space": self.label_space, "label": self.label_space[int(probs.argmax())],
                "box": box, "crop": crop}


def predict_cli(args: argparse.Namespace) -> int:
    predictor = FacePredictor(args.run, device=args.device)
    results, failed = [], 0
    for path in args.images:
        try:
            r = predictor.predict_image(load_image(path))
        except DataError as e:
            msg = str(e) if str(e).startswith(str(path)) else f"{path}: {e}"
            print(f"error: {msg}", file=sys.stderr)
            results.append({"file": str(path), "error": msg})
            failed += 1
            continue
        results.append({"file": str(path), "label": r["label"], "box": r["box"],
                        "probs": {c: round(float(p), 6) for c, p in zip(r["label_space"], r["probs"])}})
    if args.json:
        print(json.dumps({"branch": predictor.branch, "temperature": predictor.temperature, "results": results}, indent=2))
    else:
        names = predictor.label_space
        print(f"{'file':<32}{'label':>10}" + "".join(f"{n[:8]:>9}" for n in names))
        for r in results:
            if "error" in r:
                continue
            print(f"{Path(r['file']).name[:31]:<32}{r['label']:>10}" + "".join(f"{r['probs'][n]:>9.3f}" for n in names))
    return 2 if failed else 0
