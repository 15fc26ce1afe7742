import pytest
import torch

from fer_core.errors import UserError
from fer_face.models.registry import create_model


@pytest.mark.parametrize("backbone", ["mobilenetv2_100", "resnet18", "resnet10t"])
def test_reduced_stride_stem_doubles_the_final_map_at_48_px(backbone, monkeypatch):
    if backbone == "resnet10t":  # a deep (Sequential) conv1 stem; registered here only for this test
        from fer_face.models import registry
        monkeypatch.setitem(registry._REGISTRY, "resnet10t", registry.BackboneSpec("resnet10t", "resnet10t"))
    faces = torch.zeros(2, 1, 48, 48)
    maps = {}
    for stride in (2, 1):
        net = create_model(backbone, input_size=48, stem_stride=stride, head_hidden=16).eval()
        with torch.no_grad():
            maps[stride] = net.backbone.forward_features(faces).shape[-1]
            assert net(faces).shape == (2, 7)
    assert (maps[2], maps[1]) == (2, 3)


def test_stem_stride_on_a_backbone_without_a_stem_convolution_is_a_one_line_error():
    with pytest.raises(UserError, match="model.stem_stride: ConvNeXt has no stem convolution"):
        create_model("convnext_atto", input_size=48, stem_stride=1)
