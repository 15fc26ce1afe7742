"""A trained landmark classifier: feature standardisation + MLP or linear weights, as one file.

``model.pt`` holds only tensors and JSON-able metadata and is loaded with ``weights_only=True``.
``LandmarkModel.logits(points, images)`` goes from raw landmarks (N, 68, 2) to uncalibrated logits (N, C);
rows whose landmarks are absent (NaN) give NaN logits. ``images`` (the grey faces the landmarks were found
on) are needed only by a model with the ``aligned_hog`` feature group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fer_core import atomic
from fer_core.errors import UserError
from fer_core.weights_file import load_weights_file
from fer_face.landmarks.appearance import aligned_hog
from fer_face.landmarks.features import APPEARANCE_GROUP, geometric_features
from fer_face.landmarks.geometry import mirror
from fer_face.landmarks.logreg import linear_logits
from fer_face.landmarks.mlp import build_mlp, mlp_logits

MODEL_FILE = "model.pt"
FORMAT = "fer-landmark-model"


def features_with_mirror(points: np.ndarray, groups: tuple[str, ...], images: np.ndarray | list | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Features of the faces and of their mirror images, float32 (N, D) each, groups in the given order."""
    points = np.asarray(points, np.float64)
    parts, parts_m = [], []
    for group in groups:
        if group == APPEARANCE_GROUP:
            if images is None:
                raise UserError(f"feature group {APPEARANCE_GROUP!r} needs the face images, not only their landmarks")
            f, fm = aligned_hog(images, points)
        else:
            f, fm = geometric_features(points, (group,)), geometric_features(mirror(points), (group,))
        parts.append(f.astype(np.float32))
        parts_m.append(fm.astype(np.float32))
    return np.concatenate(parts, axis=1), np.concatenate(parts_m, axis=1)


@dataclass
class LandmarkModel:
    kind: str  # "mlp" | "logreg"
    feature_groups: tuple[str, ...]
    mean: np.ndarray  # (D,) feature standardisation, fit on Training
    std: np.ndarray
    label_space: tuple[str, ...]
    tta_mirror: bool = True
    mlp_config: dict[str, Any] = field(default_factory=dict)
    net: torch.nn.Module | None = None  # kind == "mlp"
    weight: np.ndarray | None = None  # kind == "logreg": (C, D)
    bias: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def fit_standardiser(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ok = np.isfinite(features).all(1)
        if not ok.any():
            raise UserError("no sample has usable landmarks: cannot fit the feature standardisation")
        mean = features[ok].mean(0)
        std = features[ok].std(0)
        std[std < 1e-8] = 1.0
        return mean.astype(np.float32), std.astype(np.float32)

    def standardise(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32)

    def logits_of_standardised(self, x: np.ndarray) -> np.ndarray:
        out = np.full((len(x), len(self.label_space)), np.nan)
        ok = np.isfinite(x).all(1)
        if not ok.any():
            return out
        if self.kind == "mlp":
            out[ok] = mlp_logits(self.net, x[ok])
        else:
            out[ok] = linear_logits(self.weight, self.bias, x[ok])
        return out

    def logits(self, points: np.ndarray, images: np.ndarray | list | None = None) -> np.ndarray:
        """Raw landmarks (N, 68, 2) or (68, 2) -> logits (N, C), mirror-averaged when ``tta_mirror``;
        ``images``: the N grey faces, for the ``aligned_hog`` feature group."""
        points = np.asarray(points, np.float64)
        if points.ndim == 2:
            points = points[None]
        f, fm = features_with_mirror(points, self.feature_groups, images)
        z = self.logits_of_standardised(self.standardise(f))
        if self.tta_mirror:
            z = (z + self.logits_of_standardised(self.standardise(fm))) / 2
        return z

    # -- persistence ------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Everything but the tensors, as JSON-able data."""
        return {"kind": self.kind, "feature_groups": list(self.feature_groups), "label_space": list(self.label_space),
                "tta_mirror": self.tta_mirror, "mlp_config": self.mlp_config, **self.meta}

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"mean": torch.from_numpy(np.asarray(self.mean, np.float32)),
               "std": torch.from_numpy(np.asarray(self.std, np.float32))}
        if self.kind == "mlp":
            out.update({f"net.{k}": v.detach().cpu() for k, v in self.net.state_dict().items()})
        else:
            out["weight"] = torch.from_numpy(np.asarray(self.weight, np.float32))
            out["bias"] = torch.from_numpy(np.asarray(self.bias, np.float32))
        return out

    @classmethod
    def from_parts(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor], source: str = "landmark model"
                   ) -> "LandmarkModel":
        """The model from ``config()`` and ``tensors()`` (a model file or a published safetensors file)."""
        meta = dict(config)
        kind = meta.pop("kind")
        groups, label_space = tuple(meta.pop("feature_groups")), tuple(meta.pop("label_space"))
        tta, mlp_cfg = bool(meta.pop("tta_mirror")), dict(meta.pop("mlp_config"))
        model = cls(kind=kind, feature_groups=groups, mean=tensors["mean"].float().numpy(),
                    std=tensors["std"].float().numpy(), label_space=label_space, tta_mirror=tta, mlp_config=mlp_cfg,
                    meta=meta)
        if kind == "mlp":
            net = build_mlp(mlp_cfg, len(model.mean), len(label_space))
            net.load_state_dict({k[len("net."):]: v.float() for k, v in tensors.items() if k.startswith("net.")})
            model.net = net.eval()
        elif kind == "logreg":
            model.weight, model.bias = tensors["weight"].double().numpy(), tensors["bias"].double().numpy()
        else:
            raise UserError(f"{source}: unknown landmark model kind {kind!r}")
        return model

    def save(self, path: str | Path) -> None:
        tensors = self.tensors()
        obj: dict[str, Any] = {"format": FORMAT, "kind": self.kind, "mean": tensors.pop("mean"),
                               "std": tensors.pop("std"), "meta": self.config()}
        del obj["meta"]["kind"]
        if self.kind == "mlp":
            obj["state"] = {k[len("net."):]: v for k, v in tensors.items()}
        else:
            obj.update(tensors)
        atomic.torch_save(obj, path)

    @classmethod
    def load(cls, path: str | Path) -> "LandmarkModel":
        path = Path(path)
        obj = load_weights_file(path, "landmark model", f" (a run directory holds {MODEL_FILE})")
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise UserError(f"{path}: not a landmark model file (missing format {FORMAT!r})")
        tensors = {"mean": obj["mean"], "std": obj["std"]}
        if obj["kind"] == "mlp":
            tensors.update({f"net.{k}": v for k, v in obj["state"].items()})
        else:
            tensors.update({k: obj[k] for k in ("weight", "bias") if k in obj})
        return cls.from_parts({"kind": obj["kind"], **obj["meta"]}, tensors, str(path))
