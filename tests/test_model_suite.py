"""The architectures people inspect today, random-init (they build offline): one unit each is
rendered with the layout featviz decided, its score rises, and the model comes back untouched."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_untouched, snapshot

import featviz


def _timm(name: str, **kwargs):
    import timm

    return timm.create_model(name, pretrained=False, **kwargs)


def _torchvision(name: str):
    import torchvision

    return torchvision.models.get_model(name)


def _vit_with_registers():
    return _RegisterViT(img_size=64, patch_size=16, embed_dim=64, depth=2, num_heads=2, reg_tokens=4)


def _register_vit_class():
    from timm.models.vision_transformer import VisionTransformer

    class RegisterViT(VisionTransformer):
        """A small timm ViT with a class token and 4 registers, for 64 px images."""

    return RegisterViT


_RegisterViT = _register_vit_class()


SUITE = [
    # (id, builder, target, expected layout of the target's layer, prefix tokens)
    ("timm vit_tiny", lambda: _timm("vit_tiny_patch16_224"), "blocks.5.mlp.fc1:10@cls", "tokens", 1),
    (
        "timm deit distilled",
        lambda: _timm("deit_tiny_distilled_patch16_224"),
        "blocks.3.mlp.fc1:7@2,3",
        "tokens",
        2,
    ),
    ("timm vit + 4 registers (64 px)", _vit_with_registers, "blocks.1.mlp.fc1:5", "tokens", 5),
    ("timm swin_tiny", lambda: _timm("swin_tiny_patch4_window7_224"), "layers.2:5", "nhwc", 0),
    ("timm convnext_tiny stage", lambda: _timm("convnext_tiny"), "stages.1:5", "nchw", 0),
    ("timm convnext_tiny mlp.fc1", lambda: _timm("convnext_tiny"), "stages.1.blocks.0.mlp.fc1:5", "nhwc", 0),
    ("timm resnet18", lambda: _timm("resnet18"), "layer3:5", "nchw", 0),
    ("timm mobilenetv3_small_100", lambda: _timm("mobilenetv3_small_100"), "blocks.3:5", "nchw", 0),
    (
        "torchvision vit_b_16",
        lambda: _torchvision("vit_b_16"),
        "encoder.layers.encoder_layer_3.mlp.0:9@cls",
        "tokens",
        1,
    ),
    ("torchvision swin_t", lambda: _torchvision("swin_t"), "features.3:5", "nhwc", 0),
    ("torchvision convnext_tiny", lambda: _torchvision("convnext_tiny"), "features.1.0.block.3:5", "nhwc", 0),
]


@pytest.mark.parametrize(
    ("build", "target", "layout", "prefix"), [s[1:] for s in SUITE], ids=[s[0] for s in SUITE]
)
def test_one_unit_of_each_architecture(build, target, layout, prefix) -> None:
    torch.manual_seed(0)  # the random weights only; featviz reads no global seed
    model = build().eval()
    before = snapshot(model)
    layer = featviz.parse_target(target).layer
    if featviz.parse_target(target).kind == "head":
        layer += ".qkv"  # the head's module is an attention block; its tokens show the layout
    size = 64 if "registers" in target or isinstance(model, _RegisterViT) else None
    info = {i.layer: i for i in featviz.layers(model, size=size)}[layer]
    assert (info.layout, info.prefix) == (layout, prefix)
    result = featviz.render(model, target, size=size, steps=6, lr=0.1, transforms="none", progress=False)
    assert torch.isfinite(result.images).all()
    assert result.history[-1, 0] > result.history[0, 0]
    assert_untouched(model, before)
