"""Layouts: channels-first and channels-last feature maps, tokens and vectors, decided from the
modules that made them, and objectives that read every one of them on the right axis."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_untouched, snapshot
from torch import nn

import featviz
from featviz.errors import LayoutError
from featviz.model.layouts import parse_layouts


class ChannelsLast(nn.Module):
    """A ConvNeXt-like model: conv stem (NCHW), then a block that works channels-last.

    ``mlp`` (an ``nn.Linear`` on the last axis) outputs (B, H, W, 6); its channel 2 is planted to
    fire on red and nothing else (weights +1 on red, -1 on green and blue).
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 3, 1)
        self.norm = nn.LayerNorm(3)
        self.mlp = nn.Linear(3, 6)
        self.act = nn.GELU()
        with torch.no_grad():
            self.stem.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.stem.bias.zero_()
            self.mlp.weight.zero_()
            self.mlp.bias.zero_()
            self.mlp.weight[2] = torch.tensor([1.0, -1.0, -1.0])
            self.mlp.weight[4] = torch.tensor([-1.0, 1.0, -1.0])  # green, to tell the axes apart

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).permute(0, 2, 3, 1)  # (B, H, W, C): plain tensor code, no module
        return self.act(self.mlp(x))


def test_layers_tell_channels_last_from_channels_first() -> None:
    table = {info.layer: info for info in featviz.layers(ChannelsLast(), size=16)}
    assert (table["stem"].layout, table["stem"].channels, table["stem"].spatial) == ("nchw", 3, (16, 16))
    assert (table["mlp"].layout, table["mlp"].channels, table["mlp"].spatial) == ("nhwc", 6, (16, 16))
    assert table["act"].layout == "nhwc"  # element-wise: its input's layout
    assert "layout" in str(featviz.layers(ChannelsLast(), size=16)).splitlines()[0]


def test_a_planted_channels_last_unit_renders_its_colour() -> None:
    model = ChannelsLast().eval()
    before = snapshot(model)
    # Plain RGB pixels, so the picture's colour is the unit's answer directly.
    kwargs = {"steps": 64, "size": 16, "progress": False, "preprocess": "none", "transforms": "none"}
    kwargs |= {"param": "pixel_rgb", "lr": 0.1}
    red = featviz.render(model, "mlp:2", **kwargs)
    green = featviz.render(model, "mlp:4", **kwargs)
    r, g, b = red.images[0].mean((1, 2)).tolist()
    assert r > 0.9 and g < 0.1 and b < 0.1  # read on the wrong axis, channel 2 would be row 2 of the grid
    r, g, b = green.images[0].mean((1, 2)).tolist()
    assert g > 0.9 and r < 0.1 and b < 0.1
    neuron = featviz.render(model, "mlp:2@3,5", **kwargs)
    assert neuron.scores[0] > 0.5
    assert_untouched(model, before)


class Undecidable(nn.Module):
    """A 4-D output made by tensor code inside a module that says nothing about its layout."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.mix = nn.Identity()
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mix(self.stem(x).transpose(1, 3).contiguous())  # (B, W, H, C): who knows?
        return self.head(y.mean((1, 2)))


def test_an_undecided_layout_is_an_error_that_says_how_to_give_it() -> None:
    model = Undecidable()
    assert {i.layer: i.layout for i in featviz.layers(model, size=8)}["mix"] == "?"
    with pytest.raises(LayoutError, match=r"layouts=\{'mix': 'nchw'\}"):
        featviz.render(model, "mix:1", steps=1, size=8, progress=False)
    result = featviz.render(model, "mix:1", steps=2, size=8, progress=False, layouts={"mix": "nhwc"})
    assert result.images.shape == (1, 3, 8, 8)
    with pytest.raises(featviz.LayerNotFoundError, match="'nope'"):
        featviz.render(model, "mix:1", steps=1, size=8, progress=False, layouts={"nope": "nhwc"})
    with pytest.raises(LayoutError, match="one of"):
        featviz.render(model, "mix:1", steps=1, size=8, progress=False, layouts={"mix": "hwc"})


def test_cli_layouts_flag(tmp_path, capsys) -> None:
    from featviz.cli import main

    path = tmp_path / "m.pt"
    torch.save(Undecidable(), path)
    argv = ["render", str(path), "mix:1", "-o", str(tmp_path / "x.png"), "--steps", "1", "--size", "8", "-q"]
    assert main(argv) == 2 and "--layouts mix=nhwc" in capsys.readouterr().err
    assert main([*argv, "--layouts", "mix=nhwc"]) == 0
    assert main(["layers", str(path), "--size", "8", "--layouts", "mix=nhwc"]) == 0
    assert "nhwc" in capsys.readouterr().out
    assert parse_layouts("a=nchw,b.c=tokens") == {"a": "nchw", "b.c": "tokens"}
    with pytest.raises(LayoutError):
        parse_layouts("a:nchw")


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (
            "timm:swin_tiny_patch4_window7_224",
            {
                "layers.0": ("nhwc", 96, (56, 56)),
                "layers.2": ("nhwc", 384, (14, 14)),
                "layers.0.blocks.0.attn.softmax": ("attention", 3, (49, 49)),
            },
        ),
        (
            "timm:convnext_tiny",
            {"stages.1": ("nchw", 192, (28, 28)), "stages.1.blocks.0.mlp.fc1": ("nhwc", 768, (28, 28))},
        ),
        (
            "torchvision:swin_t",
            {"features.1": ("nhwc", 96, (56, 56)), "features.0.0": ("nchw", 96, (56, 56))},
        ),
        (
            "torchvision:convnext_tiny",
            {"features.1.0.block.1": ("nhwc", 96, (56, 56)), "features.1": ("nchw", 96, (56, 56))},
        ),
    ],
)
def test_random_init_modern_models_list_the_right_layouts(build, expected) -> None:
    library, name = build.split(":")
    if library == "timm":
        import timm

        model = timm.create_model(name, pretrained=False)
    else:
        import torchvision

        model = torchvision.models.get_model(name)
    table = {i.layer: (i.layout, i.channels, i.spatial) for i in featviz.layers(model)}
    for layer, value in expected.items():
        assert table[layer] == value, layer


class TinyViT(nn.Module):
    """A ViT-like token model on 16 px images: 4x4 px patches on a 4x4 grid, one class token.

    ``patch_embed.proj`` is planted: channel 0 of a patch token is the patch's mean red, channel 1
    its mean green. The class token is the mean of the patch tokens, so ``block:0@cls`` wants red
    everywhere while ``block:0@1,2`` wants it only in the patch of row 1, column 2.
    """

    num_prefix_tokens = 1

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, 2, 4, stride=4)
        self.patch_embed.grid_size = (4, 4)
        self.block = nn.Linear(2, 2)
        with torch.no_grad():
            self.patch_embed.proj.weight.zero_()
            self.patch_embed.proj.bias.zero_()
            self.patch_embed.proj.weight[0, 0] = 1 / 16
            self.patch_embed.proj.weight[1, 1] = 1 / 16
            self.block.weight.copy_(torch.eye(2))
            self.block.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed.proj(x).flatten(2).transpose(1, 2)  # (B, 16, 2)
        tokens = torch.cat([patches.mean(1, keepdim=True), patches], dim=1)  # class token first
        return self.block(tokens)


def test_token_layers_know_their_class_token_and_patch_grid() -> None:
    table = {i.layer: i for i in featviz.layers(TinyViT(), size=16)}
    info = table["block"]
    assert (info.layout, info.prefix, info.channels, info.spatial) == ("tokens", 1, 2, (4, 4))
    assert "tokens+1" in str(featviz.layers(TinyViT(), size=16))


def test_planted_class_token_and_patch_token_units_render_as_designed() -> None:
    model = TinyViT().eval()
    kwargs = {"steps": 48, "size": 16, "progress": False, "preprocess": "none", "transforms": "none"}
    kwargs |= {"param": "pixel_rgb", "lr": 0.1}
    red = lambda image: image[0]  # noqa: E731
    patch = featviz.render(model, "block:0@1,2", **kwargs).images[0]
    inside = red(patch)[4:8, 8:12].mean()
    outside = (red(patch).sum() - red(patch)[4:8, 8:12].sum()) / (16 * 16 - 16)
    assert inside > 0.9 and outside < 0.6  # only that patch turned red
    cls = featviz.render(model, "block:0@cls", **kwargs).images[0]
    assert red(cls).mean() > 0.9  # the class token averages every patch: red everywhere
    channel = featviz.render(model, "block:1", **kwargs).images[0]
    assert channel[1].mean() > 0.9  # channel mean over the patch tokens: green everywhere


def test_bad_token_addresses_say_what_exists(tiny) -> None:
    kwargs = {"steps": 1, "size": 16, "progress": False}
    with pytest.raises(featviz.ChannelOutOfRangeError, match="4x4"):
        featviz.render(TinyViT(), "block:0@4,0", **kwargs)
    with pytest.raises(featviz.ChannelOutOfRangeError, match="2 channels"):
        featviz.render(TinyViT(), "block:5@cls", **kwargs)
    with pytest.raises(featviz.InvalidArgumentError, match="class token"):
        featviz.render(tiny, "conv3:1@cls", steps=1, size=32, progress=False)


def test_cli_renders_a_class_token_unit(tmp_path, capsys) -> None:
    from featviz.cli import main

    path = tmp_path / "vit.pt"
    torch.save(TinyViT(), path)
    out = tmp_path / "cls.png"
    assert (
        main(["render", str(path), "block:0@cls", "-o", str(out), "--steps", "2", "--size", "16", "-q"]) == 0
    )
    assert "block:0@cls\tscore" in capsys.readouterr().out and out.exists()


class TinyAttention(nn.Module):
    """timm-style attention on 2-channel tokens: 2 heads of width 2, each token attending only to
    itself; head 0 writes the token's red channel, head 1 its green channel."""

    def __init__(self) -> None:
        super().__init__()
        self.num_heads = 2
        self.v = nn.Linear(2, 4, bias=False)
        self.proj = nn.Linear(4, 2)
        with torch.no_grad():
            self.v.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.v(x))


class TinyViTWithAttention(TinyViT):
    def __init__(self) -> None:
        super().__init__()
        self.attn = TinyAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(super().forward(x))


def test_planted_attention_heads_render_what_they_write() -> None:
    model = TinyViTWithAttention().eval()
    before = snapshot(model)
    kwargs = {"steps": 48, "size": 16, "progress": False, "preprocess": "none", "transforms": "none"}
    kwargs |= {"param": "pixel_rgb", "lr": 0.1}
    result = featviz.render(model, ["attn:h0", "attn:h1"], **kwargs)
    red, green = result.images[0].mean((1, 2)), result.images[1].mean((1, 2))
    assert red[0] > 0.9 and green[1] > 0.9  # head 0 writes red, head 1 green
    assert result.targets == ["attn:h0", "attn:h1"]
    assert_untouched(model, before)
    with pytest.raises(featviz.ChannelOutOfRangeError, match="2 heads"):
        featviz.render(model, "attn:h2", steps=1, size=16, progress=False)
    with pytest.raises(featviz.InvalidArgumentError, match="not an attention module"):
        featviz.render(model, "block:h0", steps=1, size=16, progress=False)


def test_attention_maps_are_listed_but_point_to_head_targets() -> None:
    import timm

    model = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False)
    with pytest.raises(LayoutError, match="'layers.0.blocks.0.attn:h0'"):
        featviz.render(model, "layers.0.blocks.0.attn.softmax:1", steps=1, progress=False)
