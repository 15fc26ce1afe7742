"""Backbone registry and the one entry point ``create_model``."""

from fer_face.models.registry import (BackboneSpec, create_model, get_backbone, list_backbones, model_from_config,
                                      paper_backbones, register_backbone)

__all__ = ["BackboneSpec", "create_model", "get_backbone", "list_backbones", "model_from_config", "paper_backbones",
           "register_backbone"]
