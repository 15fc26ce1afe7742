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


@pytest.mark.parametrize("backbone, params", [("vgg48", 4.69e6), ("vgg48_slim", 2.64e6), ("vgg48_half", 1.17e6),
                                              ("vgg48_fast", 1.16e6), ("vgg48_tiny", 0.098e6)])
def test_vgg48_is_registered_with_timm_and_ends_on_a_3x3_map_at_48_px(backbone, params):
    from fer_face.models.registry import list_backbones

    assert backbone in list_backbones()
    net = create_model(backbone, input_size=48, head_hidden=16, drop_rate=0.1).eval()
    faces = torch.zeros(2, 1, 48, 48)
    with torch.no_grad():
        assert net.backbone.forward_features(faces).shape[-2:] == (3, 3)
        assert net(faces).shape == (2, 7)
    assert net.backbone.num_features == net.head[1].in_features
    assert sum(p.numel() for p in net.backbone.parameters()) == pytest.approx(params, rel=0.01)


def test_vgg48_loads_a_local_weights_file(tmp_path):
    donor = create_model("vgg48_slim").backbone
    torch.nn.init.constant_(donor.features[0].weight, 0.5)
    torch.save(donor.state_dict(), tmp_path / "vgg.pth")
    net = create_model("vgg48_slim", pretrained=str(tmp_path / "vgg.pth"))
    assert torch.equal(net.backbone.features[0].weight, donor.features[0].weight)


def test_drop_path_on_vgg48_is_a_one_line_error_naming_the_setting():
    with pytest.raises(UserError, match="model.drop_path_rate: the vgg48 family has no residual branches"):
        create_model("vgg48_slim", drop_path_rate=0.05)


def test_an_imagenet_shaped_timm_file_loads_into_the_grey_one_channel_net(tmp_path):
    """--pretrained FILE with a timm ImageNet checkpoint (RGB stem, 1000-class classifier), as the paper most likely
    used: the stem's RGB filters are summed into the grey channel and the classifier is left out."""
    import timm

    donor = timm.create_model("mobilenetv2_100", pretrained=False, num_classes=1000)
    torch.nn.init.normal_(donor.conv_stem.weight)
    torch.save(donor.state_dict(), tmp_path / "mobilenetv2_100_imagenet.pth")
    net = create_model("mobilenetv2_100", pretrained=str(tmp_path / "mobilenetv2_100_imagenet.pth"))
    torch.testing.assert_close(net.backbone.conv_stem.weight, donor.conv_stem.weight.sum(1, keepdim=True))
    torch.testing.assert_close(net.backbone.blocks[3][0].conv_pw.weight, donor.blocks[3][0].conv_pw.weight)
    assert net(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
