"""featviz.explain: known answers on a planted model, the report in Chromium, the render cache."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from chromium import check_page, needs_chromium
from conftest import snapshot
from PIL import Image
from torch import nn

import featviz
from featviz.analysis import natural
from featviz.analysis.nmf import nmf
from featviz.errors import InvalidArgumentError, LayerNotFoundError
from featviz.model.facts import default_layers
from featviz.model.prepared import prepare
from featviz.options import EXPLAIN_LAYERS
from featviz.reports.explanation.report import explain

FAST = {"steps": 3, "size": 32, "progress": False}
LAYERS = ["blocks.0", "blocks.1"]
EVIL_FILE = "<img src=x onerror=alert(1)>.png"


class _LeftHalf(nn.Module):
    """Keeps the left half of a feature map, zeroes the right half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(x)
        mask[..., : x.shape[-1] // 2] = 1
        return x * mask


class Planted(nn.Module):
    """Channel 0 of ``blocks.1`` fires on red, only in the left half; channel 1 on green anywhere.
    Class 0 is channel 0's mean, class 1 channel 1's: a red photo is class 0, seen on the left."""

    def __init__(self) -> None:
        super().__init__()
        colour = nn.Conv2d(3, 3, 1, stride=4, bias=False)  # a 56 x 56 grid at 224 px
        with torch.no_grad():
            colour.weight.copy_(
                torch.tensor([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])[:, :, None, None]
            )
        self.blocks = nn.Sequential(nn.Sequential(colour, nn.ReLU()), _KeepRed())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.blocks(x)).flatten(1))


class _KeepRed(nn.Module):
    """Channel 0 (red) only in the left half; the other channels as they are."""

    def __init__(self) -> None:
        super().__init__()
        self.left = _LeftHalf()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.left(x[:, :1]), x[:, 1:]], 1)


def _red_photo(size: int = 64) -> torch.Tensor:
    photo = torch.zeros(3, size, size)
    photo[0] = 0.9
    photo[1:] = 0.1
    return photo


def test_planted_red_left_unit_lights_the_left_half_in_activation_and_attribution(tmp_path) -> None:
    model = Planted()
    before = snapshot(model)
    exp = explain(
        model,
        _red_photo(),
        ["blocks.1", "blocks.0"],
        preprocess="none",
        cache=tmp_path / "cache",
        grid=4,
        groups=2,
        top=2,
        **FAST,
    )
    assert exp.target == 0 and exp.predictions[0][0] == 0
    assert [layer.layer for layer in exp.layers] == ["blocks.0", "blocks.1"]  # in depth order
    layer = exp.layer("blocks.1")
    width = layer.grid_shape[1]
    left, right = slice(0, width // 2), slice(width // 2, width)
    assert float(layer.strength[:, left].min()) > 0.5 and float(layer.strength[:, right].max()) < 1e-6
    assert (
        float(layer.attribution[:, left].min()) > 0 and float(layer.attribution[:, right].abs().max()) < 1e-9
    )
    assert float(layer.grad_cam[:, right].max()) < 1e-9 < float(layer.grad_cam[:, left].min())
    assert layer.top[0].channel == 0 and layer.attributing[0].channel == 0
    # the earlier layer sees red everywhere: no left-right difference there
    early = exp.layer("blocks.0")
    assert float(early.strength.min()) > 0.5
    # the left cells of the grid are strong, the right ones are empty and not rendered
    cols = layer.cells[1]
    strengths = layer.cell_strength.flatten().tolist()
    assert all((s > 0) == (i % cols < cols // 2) for i, s in enumerate(strengths))
    assert all((r is None) == (s == 0) for r, s in zip(layer.cell_renders, strengths, strict=True))
    # every render is there, and the model came back as it was
    renders = [c.render for c in layer.top + layer.attributing] + [g.render for g in layer.groups]
    assert all(r.image is not None and r.image.shape == (3, 32, 32) for r in renders)
    after = snapshot(model)
    assert after["training"] == before["training"] and after["requires_grad"] == before["requires_grad"]
    assert all(torch.equal(after["state"][k], v) for k, v in before["state"].items())


def test_nmf_recovers_planted_factors_and_reports_explained_variance() -> None:
    generator = torch.Generator().manual_seed(0)
    w = torch.rand(40, 3, generator=generator)
    h = torch.rand(3, 12, generator=generator) * (torch.rand(3, 12, generator=generator) > 0.5)
    found = nmf(w @ h, 3)
    assert found is not None
    spatial, mixes, explained = found
    assert explained > 0.999
    assert torch.allclose(mixes.norm(dim=1), torch.ones(3))
    assert float((spatial @ mixes - w @ h).abs().max()) < 0.05
    # one factor cannot explain three
    assert nmf(w @ h, 1)[2] < 0.99  # type: ignore[index]
    assert nmf(torch.zeros(5, 4), 2) is None


def test_second_explanation_reuses_every_render_from_the_cache(tmp_path) -> None:
    model = Planted()
    first = explain(
        model, _red_photo(), LAYERS, preprocess="none", cache=tmp_path / "c", groups=2, top=2, **FAST
    )
    assert first.rendered > 0 and first.reused == 0
    second = explain(
        model, _red_photo(), LAYERS, preprocess="none", cache=tmp_path / "c", groups=2, top=2, **FAST
    )
    assert second.rendered == 0 and second.reused == first.rendered
    a, b = first.layer("blocks.1"), second.layer("blocks.1")
    assert a.top[0].render.image is not None and b.top[0].render.image is not None
    assert torch.allclose(a.top[0].render.image, b.top[0].render.image, atol=1 / 255)
    # other settings, or other weights, are other renders
    third = explain(
        model,
        _red_photo(),
        LAYERS,
        preprocess="none",
        cache=tmp_path / "c",
        groups=2,
        top=2,
        **{**FAST, "steps": 4},
    )
    assert third.reused == 0
    with torch.no_grad():
        model.head.weight.mul_(2)
    fourth = explain(
        model, _red_photo(), LAYERS, preprocess="none", cache=tmp_path / "c", groups=2, top=2, **FAST
    )
    assert fourth.reused == 0


def test_an_atlas_serves_its_channels_to_an_explanation(tiny, tmp_path) -> None:
    featviz.atlas(tiny, "conv3", range(16), tmp_path / "atlas", steps=2, size=32, progress=False)
    exp = explain(
        tiny,
        _red_photo(32),
        layers=["conv3"],
        groups=0,
        top=3,
        grid=2,
        cache=False,
        atlases=[tmp_path / "atlas"],
        **FAST,
    )
    layer = exp.layer("conv3")
    assert all(c.render.cached for c in layer.top + layer.attributing)
    assert exp.reused >= 3 and exp.rendered == sum(1 for r in layer.cell_renders if r is not None)


def test_default_layers_spread_over_the_blocks() -> None:
    prepared = prepare("efficientnet_lite0")
    assert default_layers(prepared, EXPLAIN_LAYERS) == [
        "blocks.1",
        "blocks.2",
        "blocks.4",
        "blocks.5",
        "blocks.6",
    ]


def test_bad_arguments_get_featviz_errors(tiny, tmp_path) -> None:
    with pytest.raises(LayerNotFoundError):
        explain(tiny, _red_photo(32), layers=["conv9"], **FAST)
    with pytest.raises(InvalidArgumentError, match="no spatial grid"):
        explain(tiny, _red_photo(32), layers=["fc"], **FAST)
    with pytest.raises(InvalidArgumentError, match="class index"):
        explain(tiny, _red_photo(32), layers=["conv3"], target=10, **FAST)
    with pytest.raises(InvalidArgumentError, match="grid must be"):
        explain(tiny, _red_photo(32), layers=["conv3"], grid=0, **FAST)
    with pytest.raises(InvalidArgumentError, match="class_names"):
        explain(tiny, _red_photo(32), layers=["conv3"], class_names=["a"], **FAST)


def test_interrupted_explanation_keeps_finished_renders(tiny, tmp_path, monkeypatch) -> None:
    import featviz.rendering.run as module

    calls = {"n": 0}
    real = module.render

    def stop_second(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "render", stop_second)
    with pytest.raises(KeyboardInterrupt):
        explain(tiny, _red_photo(32), layers=["conv3"], groups=0, top=2, grid=2, cache=tmp_path / "c", **FAST)
    monkeypatch.setattr(module, "render", real)
    again = explain(
        tiny, _red_photo(32), layers=["conv3"], groups=0, top=2, grid=2, cache=tmp_path / "c", **FAST
    )
    assert again.reused >= 1  # the first batch was kept


@needs_chromium
def test_report_in_chromium_decodes_every_image_and_shows_names_as_text(tmp_path) -> None:
    photo_path = tmp_path / EVIL_FILE
    pixels = (_red_photo().permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(pixels).save(photo_path)
    exp = explain(
        Planted(),
        photo_path,
        LAYERS,
        preprocess="none",
        cache=False,
        groups=2,
        top=2,
        class_names=["<b>red</b>", "green"],
        **FAST,
    )
    out = tmp_path / "report"
    index = exp.save(out)
    text = index.read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)
    record = json.loads((out / "explanation.json").read_text(encoding="utf-8"))
    assert record["source"] == EVIL_FILE and record["layers"][1]["layer"] == "blocks.1"
    assert record["predictions"][0]["name"] == "<b>red</b>"

    page = check_page(index, tmp_path)
    assert page.loaded, page.stderr[-2000:]
    pictures = list(out.glob("*.png")) + list(out.glob("*.jpg"))
    cells = [p for p in pictures if re.fullmatch(r"l\d+_cell\d+\.jpg", p.name)]
    # every picture but the cells' renders (one per layer shown: the cell under the pointer);
    # evolution and legends reuse files
    assert page.loaded[0] == page.loaded[1] >= len(pictures) - len(cells) + len(exp.layers)
    dom = page.elements
    assert "red" not in [text for _, _, text in dom.all("b")]  # the page's own <b>s, none from the name
    images = [attrs.get("src", "") for _, attrs, _ in dom.all("img")]
    assert all(re.fullmatch(r"(photo|legend_\w+|l\d+_\w+)\.(png|jpg)", src) for src in images)
    texts = dom.texts()
    assert any(EVIL_FILE in text for text in texts)  # the file name, as text
    assert any("<b>red</b>" in text for text in texts)  # the class name, as text


def test_notebook_view_escapes_strings(tmp_path) -> None:
    exp = explain(
        Planted(),
        _red_photo(),
        LAYERS,
        preprocess="none",
        cache=False,
        groups=0,
        top=1,
        class_names=["<script>x</script>", "g"],
        **FAST,
    )
    view = exp._repr_html_()
    assert "<script>" not in view and "&lt;script&gt;" in view
    assert view.count("data:image/png;base64,") >= 2 * len(exp.layers)


def test_cli_explain_writes_the_report_folder(tmp_path, tiny, capsys) -> None:
    from featviz import cli

    model_path = tmp_path / "tiny.pt"
    torch.save(tiny, model_path)
    photo_path = tmp_path / "red.png"
    Image.fromarray((_red_photo(32).permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(photo_path)
    argv = ["explain", str(model_path), str(photo_path), "-o", str(tmp_path / "out")]
    argv += ["--layers", "conv2,conv3"]
    argv += ["--grid", "2", "--groups", "2", "--top", "2", "--steps", "2", "--size", "32", "-q"]
    argv += ["--cache", str(tmp_path / "cache")]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "renders made" in printed
    record = json.loads((tmp_path / "out" / "explanation.json").read_text(encoding="utf-8"))
    assert [layer["layer"] for layer in record["layers"]] == ["conv2", "conv3"]
    assert record["renders_made"] > 0 and (tmp_path / "out" / "index.html").is_file()
    assert set(record["layers"][0]["faithfulness"]) == {"grad_cam", "attribution"}
    assert cli.main(argv) == 0  # again: everything from the cache
    assert "0 renders made" in capsys.readouterr().out
    assert cli.main([*argv, "--no-render", "--no-faithfulness"]) == 0
    record = json.loads((tmp_path / "out" / "explanation.json").read_text(encoding="utf-8"))
    assert record["layers"][0]["faithfulness"] == {}
    assert cli.main(["explain", str(model_path), str(photo_path), "--layers", "fc", "-q"]) == 2
    assert "no spatial grid" in capsys.readouterr().err


CAT_BOX = natural.CAT_BOX  # the cat's place in natural.cat_on_coffee(): 41 % of the picture


@pytest.fixture(scope="module")
def cat_explanation():
    canvas = natural.cat_on_coffee()
    return canvas, explain("efficientnet_lite0", canvas, render=False, progress=False)


def _share_in_box(values: torch.Tensor) -> float:
    top, bottom, left, right = CAT_BOX
    up = torch.nn.functional.interpolate(values[None, None], size=(224, 224), mode="bilinear")[0, 0]
    up = up.clamp(min=0)
    return float(up[top:bottom, left:right].sum() / up.sum())


def test_lite0_sees_the_cat_where_it_is(cat_explanation) -> None:
    _, exp = cat_explanation
    assert 281 <= exp.target <= 285  # a domestic cat class is the top class
    assert exp.target_name == exp.predictions[0][1]
    last = exp.layers[-1]
    assert last.layer == "blocks.6" and last.grid_shape == (7, 7)
    area = (CAT_BOX[1] - CAT_BOX[0]) * (CAT_BOX[3] - CAT_BOX[2]) / 224**2
    # most of the cat class's attribution at the last block lies on the cat (measured: 0.63 and
    # 0.62 against its 0.41 of the area)
    assert _share_in_box(last.attribution) > 0.55 > area
    assert _share_in_box(last.grad_cam) > 0.55


def test_lite0_grad_cam_at_the_last_block_beats_random_orders(cat_explanation) -> None:
    _, exp = cat_explanation
    found = exp.layers[-1].grad_cam_faithfulness
    assert found is not None and found.random_orders == 3 and found.steps == 16
    # measured on the cat: deletion 0.039 against 0.115 at random, insertion 0.431 against 0.161
    assert found.deletion_auc < 0.6 * found.random_deletion_auc
    assert found.insertion_auc > 1.5 * found.random_insertion_auc


def test_lite0_neuron_groups_come_close_to_the_best_rank_k_reconstruction(cat_explanation) -> None:
    """No rank-k factorization reconstructs better than the truncated SVD (Eckart-Young), so
    NMF's explained variance is judged against that bound: measured 0.91-0.96 of it."""
    canvas, exp = cat_explanation
    prepared = prepare("efficientnet_lite0")
    for layer in exp.layers:
        act = prepared.activations(canvas[None], {layer.layer})[layer.layer][0].clamp(min=0).flatten(1).T
        total = ((act - act.mean(0)) ** 2).sum()
        singular = torch.linalg.svdvals(act)
        bound = float(1 - (singular[len(layer.groups) :] ** 2).sum() / total)
        assert len(layer.groups) == 6
        assert 0.85 * bound <= layer.explained_variance <= bound + 1e-4, layer.layer
        assert abs(sum(g.share for g in layer.groups) - 1) < 1e-4


def test_explain_reads_patch_tokens_and_finds_the_blocks_of_other_architectures() -> None:
    import timm
    import torchvision

    torch.manual_seed(0)  # random weights: no pretrained transformer is available offline
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    exp = explain(vit, torch.rand(3, 224, 224), render=False, faithfulness=False, progress=False)
    assert [layer.layer for layer in exp.layers] == [
        "blocks.1",
        "blocks.4",
        "blocks.6",
        "blocks.8",
        "blocks.11",
    ]
    assert all(layer.grid_shape == (14, 14) and layer.attribution.shape == (14, 14) for layer in exp.layers)
    assert all(layer.channels == 192 and len(layer.groups) == 6 for layer in exp.layers)
    convnext = timm.create_model("convnext_tiny", pretrained=False)
    assert default_layers(prepare(convnext), EXPLAIN_LAYERS) == [
        "stages.0",
        "stages.1",
        "stages.2",
        "stages.3",
    ]
    assert default_layers(prepare(torchvision.models.resnet18()), EXPLAIN_LAYERS) == [
        "layer1",
        "layer2",
        "layer3",
        "layer4",
    ]


def test_the_first_page_is_written_before_any_render_and_filled_in(tiny, tmp_path, monkeypatch) -> None:
    from featviz.rendering.cache import CachedRenderer

    out = tmp_path / "report"
    seen = []
    real = CachedRenderer.units

    def units(self, whats):  # what the folder holds when the first render starts, then Ctrl-C
        if not seen:
            page = (out / "index.html").read_text(encoding="utf-8")
            record = json.loads((out / "explanation.json").read_text(encoding="utf-8"))
            seen.append((page, record))
            return real(self, whats)
        return None

    monkeypatch.setattr(CachedRenderer, "units", units)
    monkeypatch.setattr("featviz.reports.explanation.report.REFRESH_SECONDS", 0)
    exp = featviz.explain(
        tiny,
        torch.rand(3, 32, 32),
        ["conv2", "conv3"],
        steps=1,
        size=32,
        cache=False,
        progress=False,
        out_dir=out,
    )
    page, record = seen[0]
    assert record["rendering"] and record["renders_made"] == 0  # the numbers, before any render
    assert record["layers"][0]["grad_cam"] and 'http-equiv="refresh"' in page
    assert record["layers"][1]["faithfulness"]["grad_cam"]["insertion_auc"] is not None  # measured first
    assert exp.interrupted and exp.rendered > 0
    final = json.loads((out / "explanation.json").read_text(encoding="utf-8"))
    assert not final["rendering"] and final["interrupted"] and final["renders_made"] == exp.rendered
    assert 'http-equiv="refresh"' not in (out / "index.html").read_text(encoding="utf-8")
    # the time per stage, which add up to the whole (the benchmark's breakdown)
    assert set(final["stages"]) == {"analysis", "first page", "faithfulness", "renders", "pages"}
    assert sum(final["stages"].values()) == pytest.approx(final["seconds"], abs=0.05)
