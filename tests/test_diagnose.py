"""featviz.diagnose: known answers for dead and saturated units, gradients, probes and CKA."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import OrderedDict

import numpy as np
import pytest
import torch
from chromium import check_page, needs_chromium
from conftest import snapshot
from PIL import Image
from torch import nn

import featviz
from featviz import cli
from featviz.analysis.cka import linear_cka
from featviz.analysis.probes import probe
from featviz.errors import InvalidArgumentError
from featviz.reports.diagnosis import charts, report
from featviz.reports.diagnosis.record import rate_bound
from featviz.reports.diagnosis.report import diagnose

EVIL = "<img src=x onerror=alert(1)>"
SVG = "{http://www.w3.org/2000/svg}"


def _colour_images(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy reddish (class 0) and bluish (class 1) 32 px images."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    images = torch.rand(count, 3, 32, 32, generator=generator) * 0.5
    images[labels == 0, 0] += 0.5
    images[labels == 1, 2] += 0.5
    return images, labels


def test_zeroed_channel_is_dead_and_relu6_at_its_cap_is_saturated(tiny) -> None:
    images, _ = _colour_images(12)
    untouched = diagnose(tiny, images, layers=["relu3"], render=False, progress=False)
    assert 5 not in untouched.layer("relu3").dead
    with torch.no_grad():
        tiny.conv3.weight[5].zero_()
        tiny.conv3.bias[5] = 0.0
    capped = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )
    with torch.no_grad():
        capped[0].bias[2] = 100.0  # channel 2 is always at ReLU6's cap
    before = snapshot(tiny)
    found = diagnose(tiny, images, layers="activations", render=False, progress=False, batch=5)
    assert [layer.layer for layer in found.layers] == ["relu1", "relu2", "relu3"]
    assert set(found.layer("relu3").dead) == set(untouched.layer("relu3").dead) | {5}
    assert any("dead" in flag for flag in found.layer("relu3").flags)
    after = snapshot(tiny)
    assert after["grads"] == before["grads"] and after["requires_grad"] == before["requires_grad"]
    assert after["training"] == before["training"] and after["hooks"] == before["hooks"]
    assert all(torch.equal(after["state"][k], v) for k, v in before["state"].items())

    saturated = diagnose(capped, images, layers=["1"], render=False, progress=False)
    layer = saturated.layer("1")
    assert layer.cap == 6.0 and layer.saturated == [2] and 2 in layer.always_on
    assert layer.dead == []


class _Fused(nn.BatchNorm2d):
    """Like timm's BatchNormAct2d: parameters of its own, then its ``.act``."""

    def __init__(self, channels: int, act: nn.Module) -> None:
        super().__init__(channels)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class _ReluThenShift(nn.Module):
    """A ReLU, then an operation written in forward (not a module) that makes values negative."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x)) - 1.0


def test_each_layer_says_its_activation_and_only_rectified_layers_count_dead_units() -> None:
    torch.manual_seed(0)  # the fixture's weights only
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        _Fused(4, nn.ReLU6()),
        _Fused(4, nn.Identity()),
        nn.Sequential(nn.Conv2d(4, 4, 1), nn.SiLU()),
        _ReluThenShift(),
        nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU(), nn.Dropout()),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    with torch.no_grad():
        model[2].bias[1] = -100.0  # never positive, but after no rectifier: not dead
        model[5][0].weight[2].zero_()
        model[5][0].bias[2] = -1.0  # never positive after a ReLU: dead
    found = diagnose(
        model,
        torch.rand(12, 3, 16, 16),
        layers=[str(i) for i in range(6)],
        size=16,
        gradients=False,
        render=False,
        progress=False,
    )
    named = {layer.layer: (layer.activation, layer.last_op, layer.rectified) for layer in found.layers}
    assert named == {
        "0": ("none", "Conv2d", False),
        "1": ("ReLU6", "ReLU6", True),
        "2": ("none", "_Fused", False),
        "3": ("SiLU", "SiLU", False),
        "4": ("ReLU", "ReLU", False),  # values below 0 after it: not rectified
        "5": ("ReLU", "ReLU", True),  # the Dropout after it passes values through
    }
    assert 2 in found.layer("5").dead and found.layer("2").dead == [] and found.layer("4").dead == []
    assert found.layer("1").cap == 6.0 and found.layer("3").cap is None
    assert all(layer.images == 12 and layer.positions == 256 for layer in found.layers)
    record = found.to_dict()
    assert record["layers"][2]["dead_channels"] is None and 2 in record["layers"][5]["dead_channels"]
    support = record["layers"][5]["support"]
    assert support == {
        "images": 12,
        "positions": 256,
        "values": 12 * 256,
        "fire_rate_bound_images": pytest.approx(1 - 0.05 ** (1 / 12)),
        "fire_rate_bound_positions": pytest.approx(1 - 0.05 ** (1 / (12 * 256))),
        "confidence": 0.95,
        "enough_images": False,
    }
    assert abs(rate_bound(300) - 3 / 300) < 5e-4  # the rule of three
    assert len(found.warnings) == 1 and "12 images are too few" in found.warnings[0]
    assert f"{rate_bound(12):.1%}" in found.warnings[0]


def test_no_warning_with_enough_images_or_without_a_rectified_layer(tiny, monkeypatch) -> None:
    images = torch.rand(12, 3, 32, 32)
    quick = {"size": 32, "gradients": False, "render": False, "progress": False}
    assert diagnose(tiny, images, layers=["conv3"], **quick).warnings == []  # no rectifier
    monkeypatch.setattr(report, "MIN_IMAGES", 10)
    assert diagnose(tiny, images, layers=["relu3"], **quick).warnings == []


def _texts(svg: str, kind: str | None = None) -> list[str]:
    root = ET.fromstring(svg)  # well-formed XML, as an <img> needs
    return [
        node.text or ""
        for node in root.iter(f"{SVG}text")
        if kind is None or kind in (node.get("class") or "").split()
    ]


def test_charts_label_both_axes_and_give_decade_ticks_on_a_log_axis() -> None:
    # gradient ratios within one decade used to give a single "1e0" tick
    hostile = "<script>x</script>"
    svg = charts.by_depth(
        ["blocks.0", "blocks.1", hostile],
        {"ratio": [0.6, 1.0, 0.8]},
        title="Gradient health",
        y_label="gradient ratio (log)",
        log=True,
    )
    assert _texts(svg, "y") == ["0.1", "1", "gradient ratio (log)"]
    assert _texts(svg, "x") == ["blocks.0", "blocks.1", hostile, "layer (input → output)"]
    assert "<script" not in svg and "&lt;script&gt;x&lt;/script&gt;" in svg  # a hostile name is text
    wide = charts.by_depth(["a", "b"], {"r": [1e-7, 2.0]}, title="t", y_label="y", log=True)
    assert _texts(wide, "tick")[:2] == ["10⁻⁷", "10⁻⁶"] and "1" in _texts(wide, "tick")
    probes_chart = charts.by_depth(
        ["a", "b"],
        {"accuracy": [0.5, 0.9]},
        title="t",
        y_label="accuracy",
        low=0.0,
        high=1.0,
        errors={"accuracy": [(0.4, 0.6), (0.8, 0.95)]},
        hollow={"accuracy": [True, False]},
        references=[("chance", 0.5)],
        mark=(1, "freeze up to b"),
    )
    assert _texts(probes_chart, "y") == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "accuracy"]
    assert "chance" in _texts(probes_chart) and "freeze up to b" in _texts(probes_chart)
    cka = charts.heat_map([[1.0, 0.5]], [EVIL], ["x", "y"], title="CKA", row_label="mine", col_label="theirs")
    assert _texts(cka, "y") == ["mine", "…" + EVIL[-23:]] and _texts(cka, "scale")[:3] == [
        "0.0",
        "0.5",
        "1.0",
    ]


def test_notebook_views_of_layers_and_of_a_diagnosis_show_names_as_text() -> None:
    torch.manual_seed(0)  # the fixture's weights only
    model = nn.Sequential(
        OrderedDict(
            [
                (EVIL, nn.Conv2d(3, 4, 3)),
                ("relu", nn.ReLU()),
                ("pool", nn.AdaptiveAvgPool2d(1)),
                ("flat", nn.Flatten()),
                ("fc", nn.Linear(4, 2)),
            ]
        )
    )
    table = featviz.layers(model, size=16)._repr_html_()
    assert table.startswith("<table>") and "<td>&lt;img src=x onerror=alert(1)&gt;</td>" in table
    assert "<img" not in table
    images = torch.rand(12, 3, 16, 16)
    found = diagnose(model, images, [0, 1] * 6, [EVIL, "relu"], size=16, render=False, progress=False)
    view = found._repr_html_()
    assert "<td>&lt;img src=x onerror=alert(1)&gt;</td>" in view and "onerror=alert" not in view.replace(
        "&lt;img src=x onerror=alert(1)&gt;", ""
    )
    assert view.count('src="data:image/svg+xml;base64,') == 3  # unit health, gradients, probes
    assert found.freeze_verdict and found.freeze_verdict in view.replace("&#x27;", "'")
    assert "<td>ReLU</td><td>yes</td>" in view and "<td>none (Conv2d)</td><td>no</td>" in view


def _plain_deep(init_std: float | None, depth: int = 24) -> nn.Sequential:
    """A plain stack of 3x3 convolutions and ReLUs (no normalization, no skips)."""
    generator = torch.Generator().manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(16, 16, 3, padding=1), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                std = init_std if init_std is not None else (2.0 / fan_in) ** 0.5  # He et al. 2015
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                module.bias.zero_()
    return model


def test_tiny_initialization_is_flagged_as_vanishing_and_he_initialization_is_not() -> None:
    images, labels = _colour_images(8)
    convs = [str(i) for i in range(0, 48, 8)]  # conv outputs from the first to the last
    tiny_init = diagnose(_plain_deep(0.01), images, labels % 4, convs, render=False, progress=False)
    ratios = [layer.gradient_ratio for layer in tiny_init.layers]
    assert ratios == sorted(ratios)  # shrinking towards the input
    assert tiny_init.layer("0").gradient_ratio < 1e-3
    assert any("vanishing" in flag for flag in tiny_init.layer("0").flags)
    healthy = diagnose(_plain_deep(None), images, labels % 4, convs, render=False, progress=False)
    assert not any(
        "vanishing" in flag or "exploding" in flag for flags in healthy.flagged.values() for flag in flags
    )
    assert all(0.1 < layer.gradient_ratio < 10 for layer in healthy.layers)  # measured 0.6-1.0
    assert all(layer.parameter_gradient_norm and layer.weight_norm for layer in healthy.layers)


def test_probe_reads_separable_labels_and_not_shuffled_ones() -> None:
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(300) % 3
    centres = torch.randn(3, 20, generator=generator) * 3
    features = centres[labels] + torch.randn(300, 20, generator=generator)
    accuracy, stderr, chance = probe(features, labels)
    assert accuracy > 0.95 and stderr < 0.03 and abs(chance - 1 / 3) < 0.02
    shuffled = labels[torch.randperm(300, generator=generator)]
    accuracy, stderr, chance = probe(features, shuffled)
    assert abs(accuracy - 1 / 3) < 3 * stderr + 0.05


def test_linear_cka_known_values() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=generator)
    rotation, _ = torch.linalg.qr(torch.randn(10, 10, generator=generator))
    assert abs(linear_cka(x, x) - 1) < 1e-9
    assert abs(linear_cka(x, 3 * x @ rotation + 1) - 1) < 1e-9  # invariant to rotation, scale, shift
    assert abs(linear_cka(x, torch.randn(200, 10, generator=generator))) < 0.05


def test_cka_with_itself_is_one_and_late_layers_drop_against_a_random_copy() -> None:
    import timm

    from featviz.analysis import natural

    images = natural.reference_images()  # 50 crops of 10 photos
    fast = {"gradients": False, "render": False, "progress": False}
    itself = diagnose("efficientnet_lite0", images, compare="efficientnet_lite0", **fast)
    assert itself.cka is not None
    assert torch.allclose(itself.cka.diagonal(), torch.ones(len(itself.layers)), atol=1e-6)
    torch.manual_seed(0)  # timm draws the random weights from the global generator
    random_copy = timm.create_model("efficientnet_lite0", pretrained=False)
    against = diagnose("efficientnet_lite0", images, compare=random_copy, **fast)
    diagonal = against.cka.diagonal()  # type: ignore[union-attr]
    # the first block of any conv net pools to similar colour and texture statistics; what the
    # trained late blocks encode a random network does not (measured with three random copies:
    # first block 0.64-0.90, the last three at most 0.46-0.64, each 0.15-0.26 below the first)
    assert float(diagonal[-3:].max()) < float(diagonal[0]) - 0.15


def test_bad_labels_and_layers_get_featviz_errors(tiny, tmp_path) -> None:
    images, _ = _colour_images(6)
    with pytest.raises(InvalidArgumentError, match="one class index"):
        diagnose(tiny, images, [0, 1], ["relu3"], render=False, progress=False)
    with pytest.raises(InvalidArgumentError, match="folders"):
        diagnose(tiny, images, "folders", ["relu3"], render=False, progress=False)
    with pytest.raises(InvalidArgumentError, match="classes"):
        diagnose(tiny, images, [0, 1, 2, 3, 4, 11], ["relu3"], render=False, progress=False)
    with pytest.raises(InvalidArgumentError, match="batch"):
        diagnose(tiny, images, batch=0, progress=False)


def _photo_folder(root, count: int = 8) -> None:
    images, labels = _colour_images(count)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / (EVIL if label == 0 else "blue")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{EVIL}{i}.png" if i == 0 else f"{i}.png"
        Image.fromarray((image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(
            folder / name
        )


@needs_chromium
def test_cli_diagnose_report_in_chromium_shows_names_as_text(tiny, tmp_path, capsys) -> None:
    with torch.no_grad():
        tiny.conv3.weight[5].zero_()
        tiny.conv3.bias[5] = 0.0
    model_path = tmp_path / "tiny.pt"
    torch.save(tiny, model_path)
    photos = tmp_path / "photos"
    _photo_folder(photos)
    out = tmp_path / "report"
    argv = ["diagnose", str(model_path), str(photos), "--labels-from-folders", "-o", str(out), "-q"]
    argv += ["--layers", "activations", "--batch", "3", "--compare", str(model_path), "--no-cache"]
    argv += ["--steps", "4"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert re.search(r"relu3\t\d+ dead channels?", printed)
    # 4 images per class: one held out per class and split can never beat chance significantly
    assert "No layer reads these labels better than chance." in printed and "freeze up to" not in printed
    assert "warning: 8 images are too few" in printed
    record = json.loads((out / "diagnosis.json").read_text(encoding="utf-8"))
    assert 5 in record["layers"][2]["dead_channels"] and record["class_names"] == sorted([EVIL, "blue"])
    assert record["layers"][2]["activation"] == "ReLU" and record["layers"][2]["support"]["images"] == 8
    assert record["freeze_up_to"] is None and record["freeze_advice"]["readable"] is False
    assert record["cka"][0][0] == pytest.approx(1.0, abs=1e-4)
    assert record["files"]["charts"] == {
        name: f"{name}.svg" for name in ("activations", "gradients", "probes", "cka")
    }
    for name, kind in (("gradients", "y"), ("probes", "y"), ("activations", "y"), ("cka", "scale")):
        ticks = _texts((out / f"{name}.svg").read_text(encoding="utf-8"), kind)
        assert len(ticks) >= 3 and all(ticks), (name, ticks)  # tick values and the axis label
    assert "layer (input → output)" in _texts((out / "gradients.svg").read_text(encoding="utf-8"), "x")
    flagged = record["files"]["flagged"]
    assert {"layer": "relu3", "channel": 5, "kind": "dead", "file": "flagged/2_5.png"} in flagged
    page = check_page(out / "index.html", tmp_path)
    assert page.loaded, page.stderr[-2000:]
    assert page.loaded[0] == page.loaded[1] == 4 + len(flagged)  # four charts, the flagged renders
    texts = page.elements.texts()
    assert any(EVIL in text for text in texts)  # the class folder's name, as text
    assert "No layer reads these labels better than chance." in texts
    assert any(text.startswith("8 images are too few") for text in texts)  # the warning
    assert f"8 × {record['layers'][2]['support']['positions']}" in texts  # what the counts rest on


def test_without_the_gradient_pass_no_layer_is_flagged_for_its_gradient(tiny) -> None:
    diagnosis = diagnose(tiny, torch.rand(6, 3, 32, 32), gradients=False, render=False, progress=False)
    assert all(not any("gradient" in flag for flag in layer.flags) for layer in diagnosis.layers)
    record = diagnosis.to_dict()
    assert all(
        layer["gradient_ratio"] is None and layer["gradient_norm"] is None for layer in record["layers"]
    )
