"""Batched inference on uint8 faces, with optional horizontal-flip test-time augmentation."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from fer_core.errors import UserError
from fer_face.augment import to_float
from fer_face.data.dataset import IMAGE_SIZE


def freeze_for_cpu(model: torch.nn.Module) -> torch.nn.Module:
    """Trace, freeze and optimise a model for CPU inference on 48x48 faces.

    Freezing folds every BatchNorm into its convolution and inlines the weights. Outputs match eager mode to
    ~1e-6; the traced graph is specialised to 48x48 inputs (any batch size). A model that cannot be traced
    is returned unchanged, with a warning.
    """
    if isinstance(model, torch.jit.ScriptModule):
        return model
    model = model.eval().to(memory_format=torch.channels_last)
    example = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE).contiguous(memory_format=torch.channels_last)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))
    except Exception as e:  # e.g. data-dependent control flow in a plug-in backbone
        print(f"warning: could not freeze the model for CPU inference ({e.__class__.__name__}); using eager mode",
              file=sys.stderr)
        return model


def fastest_for_cpu(model: torch.nn.Module, calls: int = 15) -> torch.nn.Module:
    """The frozen graph or the eager model, whichever answers one face faster here.

    On 2 CPU cores freezing cuts MobileNetV2's batch-1 latency from 7.1 to 4.4 ms, but slows
    EfficientNet-B0/B2 (8.1 -> 8.8 and 12.6 -> 16.1 ms; ``bench/results/face_speed.json``), so measure.
    """
    import time

    eager = model.eval().to(memory_format=torch.channels_last)
    frozen = freeze_for_cpu(eager)
    if frozen is eager:
        return eager
    one = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE).contiguous(memory_format=torch.channels_last)

    def median_ms(m: torch.nn.Module) -> float:
        with torch.inference_mode():
            m(one)
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                m(one)
                times.append(time.perf_counter() - t0)
        return sorted(times)[len(times) // 2]

    return frozen if median_ms(frozen) < median_ms(eager) else eager


def shifted(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """The batch moved by (dx, dy) pixels, edges replicated (no wrap-around)."""
    if dx == 0 and dy == 0:
        return x
    h, w = x.shape[-2:]
    p = max(abs(dx), abs(dy))
    padded = F.pad(x, (p, p, p, p), mode="replicate")
    return padded[..., p - dy:p - dy + h, p - dx:p - dx + w]


# test-time view sets by name: "1" the image, "2" with its mirror, "5:S" / "10:S" each also moved S px four ways
VIEW_SETS = {"1": (False, 0), "2": (True, 0), "5:1": (False, 1), "5:2": (False, 2), "10:1": (True, 1),
             "10:2": (True, 2), "10:3": (True, 3)}


def view_set(name: str) -> dict:
    """``predict_logits`` keyword arguments of a named view set (``VIEW_SETS``)."""
    if name not in VIEW_SETS:
        raise UserError(f"--views {name}: unknown view set; choose from {', '.join(VIEW_SETS)}")
    flip, shift = VIEW_SETS[name]
    return {"tta_flip": flip, "tta_shift_px": shift}


def tta_settings(eval_cfg: dict) -> dict:
    """``predict_logits`` keyword arguments for a recipe's ``[eval]`` table (with its defaults, ``with_defaults``)."""
    return {"tta_flip": bool(eval_cfg["tta_flip"]), "tta_shift_px": int(eval_cfg["tta_shift_px"])}


def tta_offsets(shift_px: int) -> list[tuple[int, int]]:
    """The original view plus, with ``shift_px``, the four views moved by that many pixels."""
    if shift_px <= 0:
        return [(0, 0)]
    return [(0, 0), (shift_px, 0), (-shift_px, 0), (0, shift_px), (0, -shift_px)]


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: np.ndarray | torch.Tensor, *, device: torch.device,
                   batch_size: int = 512, tta_flip: bool = False, tta_shift_px: int = 0, channels_last: bool = True,
                   amp: bool = False) -> np.ndarray:
    """(N, 48, 48) uint8 -> (N, C) float64 logits, averaged over the test-time views.

    Views: the image, its mirror with ``tta_flip``, and with ``tta_shift_px`` each of those moved by that many
    pixels left, right, up and down (1, 2, 5 or 10 views).
    """
    model.eval()
    x_all = torch.as_tensor(np.require(images, requirements=["W"]) if isinstance(images, np.ndarray) else images)
    if x_all.ndim == 3:
        x_all = x_all.unsqueeze(1)
    out = []
    for start in range(0, len(x_all), batch_size):
        xb = x_all[start:start + batch_size].to(device, non_blocking=True)
        xb = to_float(xb)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        views = [shifted(v, dx, dy) for v in ([xb, torch.flip(xb, dims=[3])] if tta_flip else [xb])
                 for dx, dy in tta_offsets(tta_shift_px)]
        with torch.autocast(device.type, enabled=amp):  # all views in one forward pass: one call, same logits
            logits = model(torch.cat(views)).float().view(len(views), len(xb), -1).mean(0)
        out.append(logits)
    if not out:
        return np.zeros((0, 0))
    return torch.cat(out).cpu().double().numpy()
