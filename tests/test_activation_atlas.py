"""featviz.activation_atlas: the layout separates what differs, cells render their mean, the page
is safe in Chromium, an interrupted atlas resumes from the cache, the microscope links it."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import torch
from chromium import check_page, needs_chromium
from conftest import assert_untouched, snapshot
from PIL import Image
from torch import nn

import featviz
from featviz.errors import FeatvizError, InvalidArgumentError

EVIL = "<img src=x onerror=alert(1)>.png"
FAST = {"steps": 24, "size": 32, "progress": False}


class Colours(nn.Module):
    """``colour``: a 1x1 convolution that reads red, green and blue, then ReLU; two classes on top
    (reddish and bluish). Red photos and blue photos give two far-apart groups of vectors."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.colour = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(3, 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3)[:, :, None, None])
            self.conv.bias.zero_()
            self.head.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [-1.0, 0.0, 1.0]]))
            self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.colour(self.conv(x))).flatten(1))


def _photos(count: int = 12, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` red and ``count`` blue noisy photos, and which are red."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.rand(2 * count, 3, size, size, generator=generator) * 0.3
    red = torch.arange(2 * count) < count
    base = torch.where(red[:, None], torch.tensor([0.8, 0.1, 0.1]), torch.tensor([0.1, 0.1, 0.8]))
    return (base[:, :, None, None] + noise).clamp(0, 1), red


@pytest.mark.parametrize("layout", ["umap", "pca"])
def test_cells_hold_one_kind_of_photo_and_render_its_colour(tmp_path, layout) -> None:
    model = Colours()
    before = snapshot(model)
    photos, red = _photos()
    atlas = featviz.activation_atlas(
        model, "colour", photos, grid=6, vectors=1200, layout=layout, cache=tmp_path / "cache", **FAST
    )
    assert_untouched(model, before)
    assert atlas.vectors == 1200 and atlas.photos == 24 and atlas.layout == layout
    assert atlas.coordinates.shape == (1200, 2)
    assert float(atlas.coordinates.min()) >= 0 and float(atlas.coordinates.max()) <= 1
    is_red = red[atlas.photo_ids]
    # the two kinds land apart: every populated cell is (nearly) one kind
    where = atlas.cell_of()
    assert len(atlas.cells) >= 2
    for cell in atlas.cells:
        members = is_red[where == cell.row * atlas.grid + cell.col]
        assert len(members) == cell.count >= atlas.min_count
        purity = max(float(members.float().mean()), 1 - float(members.float().mean()))
        assert purity >= 0.95, (cell.row, cell.col, purity)
    kinds = {bool(is_red[where == c.row * atlas.grid + c.col].float().mean() > 0.5) for c in atlas.cells}
    assert kinds == {True, False}
    # a cell's vector is the mean of its members; its render has the colour of its photos
    for cell in atlas.cells:
        members = where == cell.row * atlas.grid + cell.col
        reddish = bool(is_red[members].float().mean() > 0.5)
        assert cell.vector.shape == (3,)
        assert (cell.vector[0] > cell.vector[2]) == reddish
        assert cell.image is not None and cell.image.shape == (3, 32, 32)
        red_minus_blue = float(cell.image[0].mean() - cell.image[2].mean())
        assert (red_minus_blue > 0) == reddish, (cell.row, cell.col, red_minus_blue)
        assert cell.classes[0][0] == (0 if reddish else 1)  # the render raises its own class
        assert cell.patch is not None and cell.patch_source.startswith("image ")
        assert bool(red[int(cell.patch_source.split()[1])]) == reddish
    assert atlas.rendered == len(atlas.cells) and atlas.reused == 0

    again = featviz.activation_atlas(
        model, "colour", photos, grid=6, vectors=1200, layout=layout, cache=tmp_path / "cache", **FAST
    )
    assert again.rendered == 0 and again.reused == len(atlas.cells)  # the layout repeats exactly
    assert torch.equal(again.coordinates, atlas.coordinates)
    for a, b in zip(atlas.cells, again.cells, strict=True):
        assert a.image is not None and b.image is not None
        assert torch.allclose(a.image, b.image, atol=1 / 255)


def test_an_interrupted_atlas_keeps_its_cells_and_the_rerun_renders_only_the_rest(
    tmp_path, monkeypatch
) -> None:
    from featviz.rendering import cache as render_cache

    photos, _ = _photos()
    options = {"grid": 6, "vectors": 1200, "layout": "pca", "cache": tmp_path / "cache", **FAST}
    real = render_cache.CachedRenderer.directions
    calls = []

    def once_then_ctrl_c(self, layer, vectors):  # the second batch meets Ctrl-C
        calls.append(len(vectors))
        return real(self, layer, vectors) if len(calls) == 1 else None

    monkeypatch.setattr(render_cache.CachedRenderer, "directions", once_then_ctrl_c)
    monkeypatch.setitem(featviz.rendering.queue.DIRECTION_CHUNK, "cpu", 1)
    first = featviz.activation_atlas(Colours(), "colour", photos, **options)
    assert first.interrupted and first.rendered == 1
    assert sum(c.image is not None for c in first.cells) == 1 < len(first.cells)
    page = first.save(tmp_path / "page")
    assert "Interrupted" in page.read_text(encoding="utf-8")
    monkeypatch.setattr(render_cache.CachedRenderer, "directions", real)
    second = featviz.activation_atlas(Colours(), "colour", photos, **options)
    assert not second.interrupted
    assert second.reused == 1 and second.rendered == len(second.cells) - 1


def test_a_folder_of_photos_and_the_saved_files(tmp_path) -> None:
    photos, _ = _photos(4)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, image in enumerate(photos):
        name = f"sub/{i}.png" if i % 2 else f"{i}.png"
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / name)
    atlas = featviz.activation_atlas(
        Colours(), "colour", folder, grid=4, vectors=400, layout="pca", cache=False, **FAST
    )
    assert atlas.photos == 8 and set(atlas.sources) == {"0.png", "sub/1.png", "2.png", "sub/3.png"} | {
        "4.png",
        "sub/5.png",
        "6.png",
        "sub/7.png",
    }
    page = atlas.save(tmp_path / "out")
    out = tmp_path / "out"
    facts = json.loads((out / "activation_atlas.json").read_text(encoding="utf-8"))
    assert facts["vectors"] == 400 and len(facts["cells"]) == len(atlas.cells)
    for cell in facts["cells"]:
        name = f"r{cell['row']:02d}_c{cell['col']:02d}.jpg"
        assert (out / "cells" / name).is_file() and (out / "patches" / name).is_file()
        assert cell["patch_source"] in atlas.sources
    with Image.open(out / "atlas.jpg") as picture:
        assert picture.size == (4 * 128, 4 * 128)
        assert np.array(picture).std() > 10  # renders on white, not a blank canvas
    with Image.open(out / "layout.png") as layout:
        assert np.array(layout).min() < 128  # some pixel holds many vectors
    assert page == out / "index.html" and not re.search(r"https?://", page.read_text(encoding="utf-8"))
    assert "ActivationAtlas(" in repr(atlas) and "<img" in atlas._repr_html_()


def test_lite0_atlas_of_a_block(tmp_path) -> None:
    """A real model and layer, numbers only: the layout and the cells, no renders."""
    photos = featviz.natural.reference_images(224)[:8]
    atlas = featviz.activation_atlas(
        "efficientnet_lite0", "blocks.5", photos, grid=5, vectors=392, render=False, progress=False
    )
    assert atlas.vectors == 392 and atlas.cells  # 8 photos x 49 positions
    assert all(cell.vector.shape == (192,) and cell.image is None for cell in atlas.cells)
    assert sum(cell.count for cell in atlas.cells) <= 392


def test_bad_input_gets_featviz_errors(tmp_path, monkeypatch) -> None:
    photos, _ = _photos(2)
    model = Colours()
    with pytest.raises(InvalidArgumentError, match="layout must be one of"):
        featviz.activation_atlas(model, "colour", photos, layout="tsne", **FAST)
    with pytest.raises(InvalidArgumentError, match="grid must be a positive int"):
        featviz.activation_atlas(model, "colour", photos, grid=0, **FAST)
    with pytest.raises(InvalidArgumentError, match="photos must be a folder"):
        featviz.activation_atlas(model, "colour", [1, 2], **FAST)
    with pytest.raises(InvalidArgumentError, match="no .* images"):
        (tmp_path / "empty").mkdir()
        featviz.activation_atlas(model, "colour", tmp_path / "empty", **FAST)
    with pytest.raises(featviz.LayerNotFoundError):
        featviz.activation_atlas(model, "colours", photos, **FAST)
    with pytest.raises(InvalidArgumentError, match="at least 3 activation vectors"):
        featviz.activation_atlas(model, "head", photos[:2], **FAST)
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were missing
    with pytest.raises(FeatvizError, match='pip install umap-learn, or pass layout="pca"'):
        featviz.activation_atlas(model, "colour", photos, render=False, **FAST)


def test_microscope_links_an_activation_atlas_per_layer(tiny, tmp_path, monkeypatch) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        pixels = np.random.default_rng(i).integers(0, 255, (40, 40, 3), np.uint8)
        Image.fromarray(pixels).save(photos / f"{i}.png")
    with pytest.raises(InvalidArgumentError, match="examples=PHOTO_DIR"):
        featviz.microscope(tiny, tmp_path / "x", ["relu3"], 2, activation_atlases=True, steps=2, size=32)
    with pytest.raises(InvalidArgumentError, match="does not show"):
        featviz.microscope(
            tiny,
            tmp_path / "y",
            ["relu3"],
            2,
            examples=photos,
            activation_atlases=["relu1"],
            steps=2,
            size=32,
        )
    result = featviz.microscope(
        tiny,
        tmp_path / "site",
        ["relu2", "relu3"],
        2,
        examples=photos,
        activation_atlases=["relu3"],
        atlas_grid=4,
        steps=2,
        size=32,
        progress=False,
    )
    layers = result.record["layers"]
    assert layers[0]["activation_atlas"] is None
    assert layers[1]["activation_atlas"] == "layers/01/activation_atlas/index.html"
    page = tmp_path / "site" / layers[1]["activation_atlas"]
    assert page.is_file() and "../../layer_01.html" in page.read_text(encoding="utf-8")
    assert '"activation_atlas":"layers/01/activation_atlas/index.html"' in (
        tmp_path / "site" / "index.html"
    ).read_text(encoding="utf-8")

    # a rerun keeps the atlas only when the same photos, model and settings would make it
    from featviz.reports.atlases import microscope as module

    made = []
    real = module.activation_atlas
    monkeypatch.setattr(module, "activation_atlas", lambda *a, **k: made.append(k["seed"]) or real(*a, **k))
    again = {
        "examples": photos,
        "activation_atlases": ["relu3"],
        "atlas_grid": 4,
        "size": 32,
        "progress": False,
    }
    featviz.microscope(tiny, tmp_path / "site", ["relu2", "relu3"], 2, steps=2, **again)
    assert made == []  # the same: kept
    featviz.microscope(
        tiny, tmp_path / "site", ["relu2", "relu3"], 2, steps=2, seed=1, overwrite=True, **again
    )
    assert made == [1]  # another seed: made again
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photos / "0.png")  # a photo changed
    featviz.microscope(tiny, tmp_path / "site", ["relu2", "relu3"], 2, steps=2, seed=1, **again)
    assert made == [1, 1]


@needs_chromium
def test_page_in_chromium_shows_every_image_and_names_as_text(tmp_path) -> None:
    photos, _ = _photos(3)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, image in enumerate(photos):
        name = EVIL if i == 0 else f"{i}.png"
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / name)
    atlas = featviz.activation_atlas(
        Colours(), "colour", folder, grid=4, vectors=600, min_count=2, layout="pca", cache=False, **FAST
    )
    atlas.cells[0].patch_source = EVIL  # whichever photo it was, its name is shown as text
    page = atlas.save(tmp_path / "out", links=[("../index.html", "<b>back</b>")])
    shown = check_page(page, tmp_path)
    assert shown.loaded and shown.loaded[0] == shown.loaded[1]
    assert shown.loaded[1] == 2 + 2 * len(atlas.cells)  # atlas, layout, each cell's pair
    assert len(re.findall(r'<a href="#r\d\d_c\d\d"', shown.dom)) == len(atlas.cells)
    texts = shown.elements.texts()
    assert "photo: " + EVIL in texts and "<b>back</b>" in texts  # shown as text


def test_cli_activation_atlas(tmp_path, capsys) -> None:
    from featviz.cli import main

    photos, _ = _photos(3)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, image in enumerate(photos):
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / f"{i}.png")
    torch.save(Colours(), tmp_path / "colours.pt")
    argv = [
        "activation-atlas",
        str(tmp_path / "colours.pt"),
        "colour",
        str(folder),
        "-o",
        str(tmp_path / "out"),
    ]
    argv += [
        "--grid",
        "4",
        "--vectors",
        "300",
        "--layout",
        "pca",
        "--no-cache",
        "--steps",
        "2",
        "--size",
        "32",
        "-q",
    ]
    assert main(argv) == 0
    assert "cells from 300 activation vectors of 6 photos" in capsys.readouterr().out
    assert (tmp_path / "out" / "index.html").is_file()
