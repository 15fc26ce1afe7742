"""A small backbone registry: adding a timm backbone is one ``register_backbone`` line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fer_core.errors import UserError

if TYPE_CHECKING:  # the registry itself is read by the CLI at start-up, before torch is needed
    import torch


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    timm_name: str
    paper_train_acc: float | None = None  # Kim, Yang & Choi, Table 1
    paper_test_acc: float | None = None


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(name: str, timm_name: str | None = None, paper: tuple[float, float] | None = None) -> None:
    _REGISTRY[name] = BackboneSpec(name, timm_name or name, *(paper or (None, None)))


register_backbone("mobilenetv2_100", paper=(0.96586, 0.64698))
register_backbone("efficientnet_b0", paper=(0.99362, 0.65798))
register_backbone("efficientnet_b2", paper=(0.99010, 0.65213))
register_backbone("resnet18")
register_backbone("convnext_atto")
register_backbone("vgg48")  # fer_face/models/vgg48.py: a 48-px-native VGG registered with timm
register_backbone("vgg48_slim")
register_backbone("vgg48_half")
register_backbone("vgg48_fast")
register_backbone("vgg48_tiny")


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def paper_backbones() -> list[str]:
    """The backbones of Kim, Yang & Choi's Table 1, in its order."""
    return [name for name, spec in _REGISTRY.items() if spec.paper_test_acc is not None]


def get_backbone(name: str) -> BackboneSpec:
    if name not in _REGISTRY:
        raise UserError(f"unknown backbone {name!r}; valid backbones: {', '.join(list_backbones())}")
    return _REGISTRY[name]


def create_model(backbone: str, num_classes: int = 7, *, pretrained: bool | str = False, input_size: int = 48,
                 stem_stride: int = 2, head_hidden: int = 512, head_activation: str = "relu",
                 head_dropout: float = 0.3, drop_rate: float = 0.0, drop_path_rate: float = 0.0):
    """Build ``FaceNet`` for ``backbone``. ``pretrained``: False, True (timm hub) or a local weights file."""
    import timm

    import fer_face.models.vgg48  # noqa: F401  (registers the vgg48 family with timm)
    from fer_face.models.facenet import FaceNet, set_stem_stride

    spec = get_backbone(backbone)
    kwargs: dict = dict(in_chans=1, num_classes=0, drop_rate=drop_rate)
    if drop_path_rate:
        kwargs["drop_path_rate"] = drop_path_rate
    if isinstance(pretrained, str) and pretrained not in ("", "false", "False"):
        if not os.path.isfile(pretrained):
            raise UserError(f"--pretrained {pretrained}: no such weights file")
        kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(file=pretrained))
    else:
        kwargs["pretrained"] = bool(pretrained)
    try:
        net = timm.create_model(spec.timm_name, **kwargs)
    except Exception as e:  # timm raises many types for unreachable hubs / bad files
        if kwargs.get("pretrained"):
            raise UserError(
                f"could not load pretrained weights for {backbone} ({e.__class__.__name__}: {str(e)[:120]}); "
                "pass a local weights file with --pretrained PATH or train from scratch"
            ) from None
        raise
    if stem_stride != 2:
        set_stem_stride(net, stem_stride)
    return FaceNet(net, num_classes, input_size, head_hidden, head_activation, head_dropout)


def model_from_config(model_cfg: dict[str, Any], num_classes: int) -> torch.nn.Module:
    """The network a recipe's ``[model]`` table describes (inference and training build it the same way)."""
    m = model_cfg
    return create_model(
        m["backbone"], num_classes, pretrained=m.get("pretrained", False), input_size=m["input_size"],
        stem_stride=m["stem_stride"], head_hidden=m["head_hidden"], head_activation=m["head_activation"],
        head_dropout=m["head_dropout"], drop_rate=m.get("drop_rate", 0.0), drop_path_rate=m.get("drop_path_rate", 0.0),
    )
