"""Face-branch speed on this machine, ours vs a naive loop, in one run, written as JSON.

Per backbone:
- training images/s, ours: decoded uint8 tensors in memory, batched tensor augmentation (one affine warp per
  batch), channels_last, no per-step host sync (the loop of ``fer face train``);
- training images/s, naive: the same timm model (default memory format) + torchvision PIL transforms +
  DataLoader over JPEG files;
- inference images/s at batch 256 and batch-1 latency (median of many calls), eval mode under
  ``torch.inference_mode``, no TTA: eager, and frozen (``fer_face.inference.freeze_for_cpu``: traced, BatchNorm
  folded into the convolutions; what ``fer face predict`` and the dashboard use on CPU).

    python bench/face_speed.py [--backbones mobilenetv2_100 efficientnet_b0 efficientnet_b2] [--steps 20]

Targets: training >= 1.5x the naive loop; MobileNetV2 batch-1 CPU latency <= 5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from bench_record import write_record


def ours_train_ips(model, x_u8, y, batch, steps, aug_cfg) -> float:
    from fer_face.augment import augment, to_float

    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    loss_sum = torch.zeros(())
    t0 = None
    for step in range(steps + 3):
        if step == 3:
            t0 = time.perf_counter()
        idx = torch.randint(0, len(y), (batch,), generator=gen)
        xb = augment(to_float(x_u8[idx]), aug_cfg, gen).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(xb), y[idx], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach()
    loss_sum.item()
    return steps * batch / (time.perf_counter() - t0)


def naive_transform(input_size: int = 48):
    """The torchvision PIL pipeline of a plain training script: grey, flip, affine, resize, [-1, 1]."""
    from torchvision import transforms

    return transforms.Compose([
        transforms.Grayscale(1), transforms.RandomHorizontalFlip(),
        transforms.RandomAffine(10, translate=(4 / 48, 4 / 48), scale=(0.9, 1.1)),
        transforms.Resize(input_size), transforms.ToTensor(), transforms.Normalize([0.5], [0.5]),
    ])


def naive_train_ips(model, image_dir, batch, steps, input_size, workers) -> float:
    from torch.utils.data import DataLoader
    from torchvision import datasets

    loader = DataLoader(datasets.ImageFolder(image_dir, naive_transform(input_size)), batch_size=batch, shuffle=True,
                        num_workers=workers, drop_last=True, persistent_workers=workers > 0)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    model.train()
    it = iter(loader)
    t0 = None
    for step in range(steps + 3):
        if step == 3:
            t0 = time.perf_counter()
        xb, yb = next(it)
        loss = F.cross_entropy(model(xb), yb, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # the usual per-step logging sync
    return steps * batch / (time.perf_counter() - t0)


@torch.no_grad()
def inference(model, x_u8, batch=256, latency_calls=200) -> tuple[float, float]:
    """(images/s at ``batch``, median batch-1 latency in ms), under ``torch.inference_mode``."""
    from fer_face.augment import to_float

    model.eval()
    xb = to_float(x_u8[:batch]).contiguous(memory_format=torch.channels_last)
    one = to_float(x_u8[:1]).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(xb)
        t0 = time.perf_counter()
        reps = 3
        for _ in range(reps):
            model(xb)
        ips = reps * batch / (time.perf_counter() - t0)
        for _ in range(20):
            model(one)
        times = []
        for _ in range(latency_calls):
            t0 = time.perf_counter()
            model(one)
            times.append((time.perf_counter() - t0) * 1000)
    return ips, statistics.median(times)


def extract_training_jpegs(zip_path: Path, dest: Path, limit: int) -> Path:
    """A temporary copy of (part of) train/ as files for the naive loader; deleted after the run."""
    with zipfile.ZipFile(zip_path) as zf:
        names = [n for n in zf.namelist() if "/train/" in f"/{n}" and n.lower().endswith((".jpg", ".png"))]
        for n in names[: limit] if limit else names:
            zf.extract(n, dest)
    roots = [p for p in dest.rglob("train") if p.is_dir()]
    return roots[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("FER_DATA_ROOT", "data")) / "fer2013.zip")
    ap.add_argument("--backbones", nargs="+", default=["mobilenetv2_100", "efficientnet_b0", "efficientnet_b2"])
    ap.add_argument("--recipe", default="improved")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps per loop")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the naive loop")
    ap.add_argument("--out", type=Path, default=Path("bench/results/face_speed.json"))
    args = ap.parse_args()
    if not args.data.is_file():
        print(f"error: {args.data}: FER2013 zip not found; pass --data or set FER_DATA_ROOT", file=sys.stderr)
        return 2

    from fer_face.config import load_recipe
    from fer_face.data import load_fer2013
    from fer_face.inference import freeze_for_cpu
    from fer_face.models import create_model

    recipe = load_recipe(args.recipe)
    m = recipe["model"]
    ds = load_fer2013(args.data)
    x_u8 = torch.from_numpy(ds.split_arrays("Training")[0]).unsqueeze(1)
    y = torch.from_numpy(ds.split_arrays("Training")[1])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        image_dir = extract_training_jpegs(args.data, Path(tmp), limit=0)
        for name in args.backbones:
            def fresh(channels_last: bool = True):
                torch.manual_seed(0)
                model = create_model(name, input_size=m["input_size"], stem_stride=m["stem_stride"],
                                     head_hidden=m["head_hidden"])
                return model.to(memory_format=torch.channels_last) if channels_last else model
            # the naive loop is what a plain PyTorch script does: default (contiguous) memory format
            naive = naive_train_ips(fresh(channels_last=False), image_dir, args.batch, args.steps, m["input_size"],
                                    args.workers)
            ours = ours_train_ips(fresh(), x_u8, y, args.batch, args.steps, recipe["augment"])
            ips, latency = inference(fresh(), x_u8)
            frozen_ips, frozen_latency = inference(freeze_for_cpu(fresh()), x_u8)
            row = {"backbone": name, "input_size": m["input_size"], "train_images_per_s_ours": round(ours, 1),
                   "train_images_per_s_naive": round(naive, 1), "train_speedup": round(ours / naive, 2),
                   "inference_images_per_s_batch256": round(ips, 1), "latency_ms_batch1": round(latency, 2),
                   "inference_images_per_s_batch256_frozen": round(frozen_ips, 1),
                   "latency_ms_batch1_frozen": round(frozen_latency, 2)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {
        "benchmark": "face branch speed, ours vs naive (timm + torchvision PIL transforms + DataLoader over JPEGs)",
        "recipe": args.recipe, "batch": args.batch, "steps": args.steps, "naive_workers": args.workers,
        "torch_threads": torch.get_num_threads(), "rows": rows,
        "targets": {"train_speedup": 1.5, "mobilenetv2_latency_ms": 5.0},
    }
    write_record(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
