"""Models whose inputs are not RGB: grayscale and 4-channel (RGB + depth) CNNs with planted units."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_untouched, snapshot
from PIL import Image
from torch import nn

import featviz
from featviz.errors import InvalidArgumentError

FAST = {"size": 24, "progress": False, "transforms": "none", "preprocess": None}


def _gray_edges() -> nn.Module:
    """A grayscale CNN: channel 0 of ``conv`` fires on vertical edges, channel 1 on horizontal."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    with torch.no_grad():
        model[0].bias.zero_()
        model[0].weight[0, 0] = torch.tensor([[-1.0, 0.0, 1.0]] * 3)  # d/dx: vertical edges
        model[0].weight[1, 0] = torch.tensor([[-1.0, 0.0, 1.0]] * 3).T  # d/dy: horizontal edges
    return model.eval()


def _edges(image: torch.Tensor) -> tuple[float, float]:
    """(change across columns, change across rows) of a (1, H, W) image."""
    return float(image.diff(dim=2).abs().mean()), float(image.diff(dim=1).abs().mean())


def test_a_grayscale_model_renders_one_channel_with_its_planted_orientation(tmp_path) -> None:
    model = _gray_edges()
    before = snapshot(model)
    vertical = featviz.render(model, "1:0", steps=64, param="pixel", lr=0.1, **{**FAST, "preprocess": "none"})
    horizontal = featviz.render(
        model, "1:1", steps=64, param="pixel", lr=0.1, **{**FAST, "preprocess": "none"}
    )
    assert vertical.images.shape == (1, 1, 24, 24)
    across_columns, across_rows = _edges(vertical.images[0])
    assert across_columns > 2 * across_rows  # vertical stripes
    across_columns, across_rows = _edges(horizontal.images[0])
    assert across_rows > 2 * across_columns  # horizontal stripes
    path = vertical.save(tmp_path / "gray.png")
    with Image.open(path) as png:
        assert png.mode == "L" and png.size == (24, 24)
    assert_untouched(model, before)


def _depth_unit() -> nn.Module:
    """An RGB + depth CNN: channel 0 of ``0`` fires on near pixels (high depth) that are not red."""
    model = nn.Sequential(nn.Conv2d(4, 2, 1), nn.ReLU())
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()
        model[0].weight[0, :, 0, 0] = torch.tensor([-1.0, 0.0, 0.0, 2.0])
    return model.eval()


def test_a_four_channel_model_renders_its_fourth_channel(tmp_path) -> None:
    model = _depth_unit()
    result = featviz.render(model, "0:0", steps=48, param="pixel", lr=0.1, **FAST)
    assert result.images.shape == (1, 4, 24, 24) and result.settings["alpha"] is False
    red, green, blue, depth = result.images[0].mean((1, 2)).tolist()
    assert depth > 0.9 and red < 0.1  # the planted unit: near and not red
    path = result.save(tmp_path / "depth.png")
    with Image.open(path) as png:  # four grey channels side by side, never RGBA
        assert png.mode == "L" and png.size == (4 * 24 + 5 * 2, 24 + 2 * 2)
    layers = featviz.layers(model, size=24)
    assert layers[0].channels == 2


def test_rgb_only_options_are_refused_for_other_channel_counts() -> None:
    model = _gray_edges()
    with pytest.raises(InvalidArgumentError, match="RGB only"):
        featviz.render(model, "1:0", steps=1, param="laplacian", **FAST)
    with pytest.raises(InvalidArgumentError, match="RGB only"):
        featviz.render(model, "1:0", steps=1, alpha=True, **FAST)
    with pytest.raises(InvalidArgumentError, match="init="):
        featviz.render(model, "1:0", steps=1, init=torch.rand(3, 24, 24), **FAST)


def test_maco_on_a_grayscale_model_keeps_the_natural_luminance_spectrum() -> None:
    from featviz.rendering.param import MacoImage

    image = MacoImage(96, batch=1, channels=1)
    magnitude = image.magnitude.clone()
    assert image.phase.shape[1] == 1 and image().shape == (1, 1, 96, 96)
    grey, rgb = float(image().detach().std()), float(MacoImage(96, batch=1)().detach().std())
    assert 0.67 < grey / rgb < 1.5  # the luminance of the photos' spectrum: an RGB-like contrast
    model = _gray_edges()
    result = featviz.render(model, "1:0", steps=24, param="maco", size=32, progress=False, preprocess="none")
    assert result.images.shape == (1, 1, 32, 32)
    assert result.history[-3:].mean() > result.history[:3].mean()
    assert torch.equal(image.magnitude, magnitude)  # only the phase is ever learned


def test_photos_reach_a_grayscale_model_as_grey_images(tmp_path) -> None:
    model = _gray_edges()
    photos = torch.rand(4, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    grey = (photos * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    prepared = featviz.prepare(model, preprocess="none")
    acts = prepared.activations(photos, {"1"})["1"]
    assert torch.allclose(acts, prepared.activations(grey, {"1"})["1"])
    assert featviz.metrics.unit_response(model, "1:0", photos, preprocess="none").shape == (4,)
    with pytest.raises(InvalidArgumentError, match="takes 1-channel images but these have 2"):
        prepared.activations(torch.rand(1, 2, 24, 24), {"1"})
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((photos[i].permute(1, 2, 0).numpy() * 255).astype("uint8")).save(folder / f"{i}.png")
    atlas = featviz.atlas(
        model, "1", range(2), tmp_path / "atlas", steps=2, size=24, examples=folder, top_k=2, progress=False
    )
    assert all(len(entry["exemplars"]) == 2 for entry in atlas.channels)
