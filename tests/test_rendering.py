"""The render loop: determinism, batching, truncation, hygiene, interruption, errors."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_untouched, snapshot

import featviz
import featviz.model.preprocess
from featviz.errors import (
    ChannelOutOfRangeError,
    InvalidArgumentError,
    LayerNotFoundError,
)
from featviz.rendering import objectives as obj

FAST = {"steps": 8, "size": 32, "progress": False}


def test_result_shape_range_and_settings(tiny) -> None:
    result = featviz.render(tiny, "conv3:2", **FAST)
    assert result.images.shape == (1, 3, 32, 32)
    assert result.images.device.type == "cpu" and result.images.dtype == torch.float32
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert result.scores.shape == (1,) and result.history.shape == (8, 1)
    assert result.targets == ["conv3:2"] and result.steps_done == 8
    assert result.settings["steps"] == 8 and result.settings["size"] == [32, 32]
    assert "ImageNet" in result.settings["preprocess"]["source"]
    assert not result.interrupted


def test_same_seed_same_image_other_seed_other_image(tiny) -> None:
    a = featviz.render(tiny, "conv3:2", seed=3, **FAST)
    b = featviz.render(tiny, "conv3:2", seed=3, **FAST)
    c = featviz.render(tiny, "conv3:2", seed=4, **FAST)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


def test_a_units_picture_does_not_depend_on_the_rest_of_the_batch(tiny) -> None:
    pair = featviz.render(tiny, ["conv3:1", "conv2:5"], seed=[10, 20], **FAST)
    first = featviz.render(tiny, ["conv3:1"], seed=[10], **FAST)
    second = featviz.render(tiny, "conv2:5", seed=[20], **FAST)
    assert torch.allclose(pair.images[0], first.images[0], atol=1e-5)
    assert torch.allclose(pair.images[1], second.images[0], atol=1e-5)
    default = featviz.render(tiny, ["conv3:1", "conv2:5"], seed=0, **FAST)
    alone = featviz.render(tiny, ["conv3:1"], seed=0, **FAST)
    assert torch.allclose(default.images[0], alone.images[0], atol=1e-5)


def test_channels_list_renders_one_image_per_channel(tiny) -> None:
    result = featviz.render(tiny, "conv3", channels=range(4), **FAST)
    assert result.targets == ["conv3:0", "conv3:1", "conv3:2", "conv3:3"]
    assert result.images.shape[0] == 4
    # image i's score is channel i's mean activation on image i
    mean = torch.tensor(featviz.model.preprocess.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(featviz.model.preprocess.IMAGENET_STD).view(1, 3, 1, 1)
    acts = {}
    handle = tiny.conv3.register_forward_hook(lambda m, i, o: acts.setdefault("conv3", o))
    with torch.no_grad():
        tiny.eval()((result.images - mean) / std)
    handle.remove()
    expected = torch.stack([acts["conv3"][i, i].mean() for i in range(4)])
    assert torch.allclose(result.scores, expected, atol=1e-5)


def test_forward_stops_after_the_deepest_needed_layer(tiny) -> None:
    calls = {"conv3": 0, "fc": 0}
    hooks = [
        getattr(tiny, n).register_forward_hook(lambda m, i, o, n=n: calls.__setitem__(n, calls[n] + 1))
        for n in calls
    ]
    featviz.render(tiny, "conv2:1", **FAST)
    assert calls == {"conv3": 0, "fc": 0}
    featviz.render(tiny, "output:1", **FAST)
    assert calls["fc"] > 0
    for h in hooks:
        h.remove()


def test_truncation_changes_no_result(tiny) -> None:
    truncated = featviz.render(tiny, "conv2:1", **FAST)
    full = featviz.render(tiny, obj.channel("conv2", 1) + 0 * obj.class_logit(0), **FAST)
    assert torch.allclose(truncated.images, full.images, atol=1e-6)


def test_model_is_untouched_after_success(tiny) -> None:
    tiny.train()
    tiny.conv1.weight.requires_grad_(False)
    before = snapshot(tiny)
    featviz.render(tiny, ["conv3:1", "output:2"], **FAST)
    assert_untouched(tiny, before)
    assert tiny.training and tiny.bn2.training


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_model_is_untouched_after_exception_or_interrupt(tiny, error) -> None:
    steps = {"n": 0}

    def explode(module, inputs, output):
        # Stop during the 4th optimization step (the forward passes that build a graph).
        if torch.is_grad_enabled():
            steps["n"] += 1
            if steps["n"] == 4:
                raise error("stop")

    handle = tiny.conv2.register_forward_hook(explode)
    tiny.train()
    before = snapshot(tiny)
    if error is KeyboardInterrupt:
        result = featviz.render(tiny, "conv3:1", **FAST)
        assert result.interrupted and result.steps_done == 3
        assert result.images.shape == (1, 3, 32, 32)
    else:
        with pytest.raises(Boom):
            featviz.render(tiny, "conv3:1", **FAST)
    assert_untouched(tiny, before)
    handle.remove()


def test_unknown_layer_suggests_close_matches(tiny) -> None:
    with pytest.raises(LayerNotFoundError, match="conv3") as info:
        featviz.render(tiny, "conv33:1", **FAST)
    assert isinstance(info.value, KeyError)
    assert "featviz.layers" in str(info.value)


def test_channel_out_of_range_says_the_range(tiny) -> None:
    with pytest.raises(ChannelOutOfRangeError, match="0..15") as info:
        featviz.render(tiny, "conv3:16", **FAST)
    assert isinstance(info.value, IndexError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": -1}, "steps"),
        ({"lr": 0}, "lr"),
        ({"size": (0, 3)}, "size"),
        ({"param": "nope"}, "parameterization"),
        ({"transforms": "nope"}, "transforms"),
        ({"batch": 0}, "batch"),
        ({"seed": "x"}, "seed"),
        ({"preprocess": 3}, "preprocess"),
    ],
)
def test_bad_arguments_get_featviz_errors(tiny, kwargs, match) -> None:
    args = {**FAST, **kwargs}
    with pytest.raises(InvalidArgumentError, match=match):
        featviz.render(tiny, "conv3:1", **args)


def test_bad_model_and_target_types(tiny) -> None:
    with pytest.raises(InvalidArgumentError, match="nn.Module"):
        featviz.render(42, "conv3:1", **FAST)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="whole-layer"):
        featviz.render(tiny, "conv3:1", channels=[1, 2], **FAST)
    with pytest.raises(InvalidArgumentError, match="one score per image"):
        featviz.render(tiny, obj.Objective(lambda a: a["conv3"].mean(), {"conv3"}, "x"), **FAST)
    with pytest.raises(InvalidArgumentError, match="leave batch out"):
        featviz.render(tiny, ["conv3:1", "conv3:2"], batch=3, **FAST)


def test_params_and_transform_lists(tiny) -> None:
    for param in ["fft", "fft_rgb", "pixel", "pixel_rgb", featviz.param.FourierImage((24, 40))]:
        result = featviz.render(tiny, "conv3:1", param=param, **{**FAST, "size": (24, 40)})
        assert result.images.shape == (1, 3, 24, 40)
    custom = [featviz.transforms.Jitter(2), lambda x: x.flip(-1)]
    result = featviz.render(tiny, "conv3:1", transforms=custom, **FAST)
    assert result.images.shape == (1, 3, 32, 32)


def test_explicit_preprocess_and_custom_optimizer(tiny) -> None:
    result = featviz.render(
        tiny,
        "conv3:1",
        preprocess={"mean": [0.5], "std": [0.5]},
        optimizer=lambda params: torch.optim.SGD(params, lr=1.0),
        **FAST,
    )
    assert result.settings["preprocess"]["mean"] in ([0.5], [0.5, 0.5, 0.5])
    result = featviz.render(tiny, "conv3:1", preprocess=lambda x: x * 255 - 117, **FAST)
    assert result.settings["preprocess"]["source"] == "explicit callable"


def test_result_save_grid_and_png_repr(tiny, tmp_path) -> None:
    result = featviz.render(tiny, "conv3", channels=[0, 1, 2], **FAST)
    path = result.save(tmp_path / "grid")
    assert path.suffix == ".png" and path.exists()
    from PIL import Image

    with Image.open(path) as image:
        assert image.size[0] > 32 * 2
    assert result._repr_png_().startswith(b"\x89PNG")
    assert result.to_pil(1).size == (32, 32)
    assert "3 image(s)" in repr(result)
    with pytest.raises(InvalidArgumentError):
        result.to_pil(7)


def test_recorded_activations_survive_later_inplace_ops() -> None:
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 2, 3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ).eval()
    model[1].bias.data.fill_(-5.0)  # pre-ReLU means are clearly negative
    result = featviz.render(model, ["1:0", "5:1"], steps=0, size=16, progress=False)
    images = featviz.param.FourierImage(16, batch=2, seed=0)().detach()
    mean = torch.tensor(featviz.model.preprocess.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(featviz.model.preprocess.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = model[1](model[0]((images - mean) / std))[0, 0].mean()
    assert expected < 0
    assert torch.isclose(result.scores[0], expected, atol=1e-5)


def test_multicrop_render_scores_rise_and_images_are_batch_independent(tiny) -> None:
    kwargs = {**FAST, "steps": 20, "transforms": "multicrop"}
    both = featviz.render(tiny, ["conv3:1", "conv3:2"], seed=[10, 20], **kwargs)
    assert both.images.shape == (2, 3, 32, 32)
    assert (both.history[-1] > both.history[0]).all()
    alone = featviz.render(tiny, ["conv3:2"], seed=[20], **kwargs)
    assert torch.allclose(both.images[1], alone.images[0], atol=1e-5)


def test_maco_render_rises_and_reports_its_attribution(tiny, tmp_path) -> None:
    result = featviz.render(tiny, "conv3:1", param="maco", **{**FAST, "steps": 20, "lr": 0.2})
    assert result.settings["transforms"] == "multicrop"
    assert result.history[-3:].mean() > result.history[:3].mean()
    assert result.attribution is not None and result.attribution.shape == (1, 1, 32, 32)
    assert float(result.attribution.max()) == pytest.approx(1.0) and result.attribution.min() >= 0
    rgba = result.transparent()
    assert rgba.mode == "RGBA" and rgba.size == (32, 32)
    rgba.save(tmp_path / "maco.png")


@pytest.mark.parametrize("param", ["laplacian", "cppn"])
def test_laplacian_and_cppn_renders_rise(tiny, param) -> None:
    result = featviz.render(tiny, "conv3:1", param=param, **{**FAST, "steps": 25})
    assert result.images.shape == (1, 3, 32, 32)
    assert result.history[-3:].mean() > result.history[:3].mean()
    assert result.settings["lr"] == {"cppn": 0.005, "fft": 0.025}.get(param, 0.05)


def test_default_render_settings_follow_the_options_table(tiny) -> None:
    from featviz.options import DEFAULTS

    result = featviz.render(tiny, "conv3:1", steps=1, size=32, progress=False)
    assert result.settings["transforms"] == "wide"  # "auto" for the Fourier image
    assert result.settings["lr"] == featviz.param.FourierImage.default_lr
    assert result.settings["param"] == DEFAULTS.param
    lucid = featviz.render(
        tiny,
        "conv3:1",
        param=featviz.param.FourierImage(32, decay_power=1.0),
        transforms="standard",
        steps=1,
        progress=False,
    )
    assert lucid.settings["transforms"] == "standard"
    assert lucid.images.shape == (1, 3, 32, 32)  # a given parameterization fixes the size
    with pytest.raises(InvalidArgumentError, match="leave size out"):
        featviz.render(tiny, "conv3:1", param=featviz.param.FourierImage(32), size=64, steps=1)


def test_unknown_option_suggests_the_right_name(tiny) -> None:
    with pytest.raises(InvalidArgumentError, match="Did you mean 'steps'"):
        featviz.render(tiny, "conv3:1", step=3)


def test_several_renders_per_target_are_kept_apart_by_the_diversity_term(tiny) -> None:
    kwargs = {**FAST, "steps": 24, "transforms": "none"}
    same = featviz.render(tiny, ["conv3:1", "conv3:2"], renders=3, diversity=0.0, **kwargs)
    apart = featviz.render(tiny, ["conv3:1", "conv3:2"], renders=3, **kwargs)
    assert apart.targets == ["conv3:1"] * 3 + ["conv3:2"] * 3
    assert apart.settings["renders"] == 3 and apart.settings["diversity"] > 0
    assert same.settings["diversity"] == 0.0

    def likeness(result: featviz.RenderResult) -> float:
        acts = featviz.prepare(tiny).activations(result.images, ["conv3"])["conv3"]
        return float(obj.group_similarity(acts, 3).mean())

    assert likeness(apart) < likeness(same)
    # the reported scores are the units' own, not the diversity-weighted ones
    direct = featviz.metrics.unit_response(tiny, "conv3:1", apart.images[:3])
    assert torch.allclose(apart.scores[:3], direct, rtol=1e-4, atol=1e-5)


def test_a_single_targets_batch_is_diverse_too_and_groups_stay_in_one_chunk(tiny) -> None:
    result = featviz.render(tiny, "conv3:1", batch=4, **FAST)
    assert len(result) == 4 and result.settings["renders"] == 4 and result.settings["diversity"] > 0
    chunked = featviz.render(tiny, ["conv3:1", "conv3:2"], renders=2, batch_size=3, **FAST)
    assert chunked.settings["batch_size"] == 2  # whole groups only


def test_group_similarity_has_known_answers() -> None:
    same = torch.rand(1, 4, 5, 5).repeat(2, 1, 1, 1)
    assert torch.allclose(obj.group_similarity(same, 2), torch.ones(2))
    vectors = torch.eye(3)  # three orthogonal activation vectors in one group
    assert torch.allclose(obj.group_similarity(vectors, 3), torch.zeros(3))
    with pytest.raises(featviz.InvalidArgumentError, match="groups of 2"):
        obj.group_similarity(torch.rand(3, 4), 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"renders": 0}, "renders"),
        ({"renders": 1.5}, "renders"),
        ({"renders": 2, "diversity": -1}, "diversity"),
    ],
)
def test_bad_renders_and_diversity(tiny, kwargs, match) -> None:
    with pytest.raises(featviz.InvalidArgumentError, match=match):
        featviz.render(tiny, ["conv3:1"], **FAST, **kwargs)


def test_renders_with_a_measured_batch_size_and_targets_on_several_layers(
    tiny, tmp_path, monkeypatch
) -> None:
    from featviz.rendering import batching

    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))  # nothing measured yet: measure now
    monkeypatch.setattr(batching, "_measured", {})
    result = featviz.render(tiny, ["conv2:1", "conv3:1", "fc:3"], renders=2, **FAST)
    assert result.targets == ["conv2:1", "conv2:1", "conv3:1", "conv3:1", "fc:3", "fc:3"]
    assert result.settings["batch_size"] % 2 == 0
    assert torch.isfinite(result.scores).all()
