"""featviz.diagnose: known answers for dead and saturated units, gradients, probes and CKA."""

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

from featviz import cli
from featviz.analysis.cka import linear_cka
from featviz.analysis.probes import probe
from featviz.errors import InvalidArgumentError
from featviz.reports.diagnosis.report import diagnose

EVIL = "<img src=x onerror=alert(1)>"


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


def test_probes_by_depth_on_colour_classes_and_the_freezing_rule(tiny) -> None:
    images, labels = _colour_images(60)
    found = diagnose(tiny, images, labels, ["relu1", "relu2", "relu3"], render=False, progress=False)
    assert all(layer.probe_accuracy is not None and layer.probe_accuracy > 0.9 for layer in found.layers)
    assert found.freeze_up_to in {"relu1", "relu2", "relu3"}
    assert found.freeze_rule and found.freeze_up_to in found.freeze_rule
    shuffled = labels[torch.randperm(60, generator=torch.Generator().manual_seed(0))]
    chance_level = diagnose(tiny, images, shuffled, ["relu3"], render=False, progress=False)
    accuracy = chance_level.layers[0].probe_accuracy
    assert accuracy is not None and accuracy < 0.8


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
    assert re.search(r"relu3\t\d+ dead channels?", printed) and "freeze up to" in printed
    record = json.loads((out / "diagnosis.json").read_text(encoding="utf-8"))
    assert 5 in record["layers"][2]["dead_channels"] and record["class_names"] == sorted([EVIL, "blue"])
    assert record["cka"][0][0] == pytest.approx(1.0, abs=1e-4)
    assert {"activations", "gradients", "probes", "cka"} <= set(record["files"]["charts"])
    flagged = record["files"]["flagged"]
    assert {"layer": "relu3", "channel": 5, "kind": "dead", "file": "flagged/2_5.png"} in flagged
    page = check_page(out / "index.html", tmp_path)
    assert page.loaded, page.stderr[-2000:]
    assert page.loaded[0] == page.loaded[1] == 4 + len(flagged)  # four charts, the flagged renders
    assert any(EVIL in text for text in page.elements.texts())  # the class folder's name, as text


def test_without_the_gradient_pass_no_layer_is_flagged_for_its_gradient(tiny) -> None:
    diagnosis = diagnose(tiny, torch.rand(6, 3, 32, 32), gradients=False, render=False, progress=False)
    assert all(not any("gradient" in flag for flag in layer.flags) for layer in diagnosis.layers)
    record = diagnosis.to_dict()
    assert all(
        layer["gradient_ratio"] is None and layer["gradient_norm"] is None for layer in record["layers"]
    )
