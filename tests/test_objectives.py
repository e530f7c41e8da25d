"""Objectives: every one rises under gradient ascent; algebra and descriptions behave."""

from __future__ import annotations

import pytest
import torch

import featviz
from featviz.errors import ChannelOutOfRangeError, InvalidArgumentError
from featviz.rendering import objectives as obj

RISING = [
    ("channel", obj.channel("conv3", 3), 1),
    ("neuron center", obj.neuron("conv3", 2), 1),
    ("neuron at", obj.neuron("conv2", 1, (2, 5)), 1),
    ("deepdream", obj.deepdream("conv2"), 1),
    ("class logit", obj.class_logit(4), 1),
    ("direction", obj.direction("conv3", torch.linspace(-1, 1, 16)), 1),
    ("direction cossim", obj.direction("conv3", torch.linspace(-1, 1, 16), cossim_pow=2), 1),
    ("interpolate", obj.channel_interpolate("conv3", 1, "conv3", 5), 3),
    ("alignment", obj.channel("conv3", 1) + obj.alignment("conv2"), 3),
    ("diversity", obj.diversity("conv2"), 3),
    ("minus total variation", -obj.total_variation(), 1),
    ("minus L1", -obj.L1(constant=0.5), 1),
    ("minus L2", -obj.L2(constant=0.5), 1),
    ("minus blur", -obj.blur_input_each_step(), 1),
    ("algebra", 0.5 * obj.channel("conv3", 3) - 0.1 * obj.total_variation(), 1),
    ("product", obj.channel("conv3", 3) * obj.channel("conv3", 3), 1),
    ("string target", obj.as_objective("conv1:2"), 1),
]


@pytest.mark.parametrize(("name", "objective", "batch"), RISING, ids=[r[0] for r in RISING])
def test_objective_rises_under_ascent(tiny, name: str, objective, batch: int) -> None:
    result = featviz.render(
        tiny,
        objective,
        batch=batch,
        steps=25,
        size=32,
        transforms="none",
        param="pixel",
        lr=0.05,
        progress=False,
    )
    before = result.history[0].sum()  # step 1 scores the untouched initial image
    after = result.scores.sum()
    assert torch.isfinite(after)
    assert after > before, f"{name}: {before:.4g} -> {after:.4g}"


def test_descriptions_read_like_the_algebra() -> None:
    o = 0.5 * obj.channel("layer4", 12) - 0.01 * obj.total_variation()
    assert repr(o) == "0.5 * channel(layer4:12) - 0.01 * total_variation(input)"
    assert o.layers == {"layer4", "input"}
    s = obj.channel("a", 1) - (obj.channel("b", 2) + obj.channel("c", 3))
    assert repr(s) == "channel(a:1) - (channel(b:2) + channel(c:3))"
    assert repr(2 * (obj.channel("a", 1) + obj.deepdream("b"))) == "2 * (channel(a:1) + deepdream(b))"
    assert repr(sum([obj.channel("a", 1), obj.channel("a", 2)])) == "channel(a:1) + channel(a:2)"
    assert repr(obj.channel("a", 1) / 4) == "0.25 * channel(a:1)"
    assert repr(obj.as_objective("output:207")) == "channel(output:207)"
    assert repr(obj.class_logit(3)) == "class_logit(3)"


def test_algebra_computes_the_same_numbers() -> None:
    acts = {"input": torch.rand(2, 3, 4, 4), "a": torch.rand(2, 5, 3, 3)}
    a, b = obj.channel("a", 1), obj.channel("a", 2)
    assert torch.allclose((2 * a - b)(acts), 2 * a(acts) - b(acts))
    assert torch.allclose((a * b)(acts), a(acts) * b(acts))
    assert torch.allclose((a + 1)(acts), a(acts) + 1)
    assert torch.allclose((1 - a)(acts), 1 - a(acts))
    assert torch.allclose((-a)(acts), -a(acts))


def test_batch_restricts_to_one_image() -> None:
    acts = {"a": torch.rand(3, 4, 2, 2)}
    scores = obj.channel("a", 1, batch=2)(acts)
    assert scores[0] == 0 and scores[1] == 0
    assert torch.isclose(scores[2], acts["a"][2, 1].mean())


def test_from_targets_gives_image_i_target_i() -> None:
    acts = {"a": torch.rand(4, 6, 5, 5), "output": torch.rand(4, 10)}
    o = obj.from_targets(["a:1", "output:7", "a:4@1,2", "a"])
    o.validate({"a": (6, 5, 5), "output": (10,)})
    scores = o(acts)
    assert torch.isclose(scores[0], acts["a"][0, 1].mean())
    assert torch.isclose(scores[1], acts["output"][1, 7])
    assert torch.isclose(scores[2], acts["a"][2, 4, 1, 2])
    assert torch.isclose(scores[3], acts["a"][3].pow(2).mean())
    assert repr(o) == "targets(a:1, output:7, a:4@1,2, a)"


def test_token_layers_use_channels_last() -> None:
    acts = {"t": torch.rand(2, 7, 5)}
    assert torch.allclose(obj.channel("t", 3)(acts), acts["t"][:, :, 3].mean(1))
    o = obj.from_targets(["t:3", "t:4"])
    o.validate({"t": (7, 5)})
    assert torch.allclose(o(acts), torch.stack([acts["t"][0, :, 3].mean(), acts["t"][1, :, 4].mean()]))


def test_validation_errors_say_the_valid_range() -> None:
    with pytest.raises(ChannelOutOfRangeError, match="valid: 0..15"):
        obj.channel("a", 16).validate({"a": (16, 4, 4)})
    with pytest.raises(ChannelOutOfRangeError, match="rows 0..3"):
        obj.neuron("a", 1, (9, 0)).validate({"a": (16, 4, 4)})
    with pytest.raises(InvalidArgumentError, match="16 channels"):
        obj.direction("a", [1.0, 2.0]).validate({"a": (16, 4, 4)})
    with pytest.raises(InvalidArgumentError):
        obj.channel("a", 1) / 0
    with pytest.raises(InvalidArgumentError):
        obj.as_objective(3.5)  # type: ignore[arg-type]


def test_diversity_is_zero_for_identical_images_max_for_orthogonal() -> None:
    same = torch.rand(1, 4, 3, 3).repeat(3, 1, 1, 1)
    assert torch.allclose(obj.diversity("a")({"a": same}), torch.full((3,), -1.0), atol=1e-5)
    onehot = torch.zeros(2, 2, 1, 1)
    onehot[0, 0] = onehot[1, 1] = 1
    assert torch.allclose(obj.diversity("a")({"a": onehot}), torch.zeros(2))
