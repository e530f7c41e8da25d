"""model.preprocess: where the input normalization comes from, its explicit forms, and what it does."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from featviz.errors import InvalidArgumentError
from featviz.model.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess, resolve_preprocess

TIMM_CFG = {"mean": (0.5, 0.5, 0.5), "std": (0.25,), "input_size": (3, 240, 260)}
ATTACHED = Preprocess((0.1, 0.2, 0.3), (0.4, 0.5, 0.6), (64, 64), "attached by load_model")


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_a_bare_module_gets_the_documented_imagenet_default() -> None:
    pre = resolve_preprocess(Tiny())
    assert (pre.mean, pre.std, pre.input_size) == (IMAGENET_MEAN, IMAGENET_STD, None)
    assert "default" in pre.source and "preprocess=" in pre.source


def test_timm_pretrained_cfg() -> None:
    pre = resolve_preprocess(SimpleNamespace(pretrained_cfg=TIMM_CFG))  # type: ignore[arg-type]
    assert pre.mean == (0.5, 0.5, 0.5) and pre.std == (0.25,)  # one value: every channel
    assert pre.input_size == (240, 260) and pre.source == "timm pretrained_cfg of SimpleNamespace"
    incomplete = SimpleNamespace(pretrained_cfg={"mean": (0.5, 0.5, 0.5)})
    assert resolve_preprocess(incomplete).mean == IMAGENET_MEAN  # type: ignore[arg-type]


def test_order_explicit_then_attached_then_timm_then_default() -> None:
    model = Tiny()
    model.pretrained_cfg = TIMM_CFG
    assert resolve_preprocess(model).source.startswith("timm")
    model.featviz_preprocess = ATTACHED
    assert resolve_preprocess(model) is ATTACHED
    assert resolve_preprocess(model, "none").source.startswith("none")
    model.featviz_preprocess = "not a Preprocess"  # ignored, not trusted
    assert resolve_preprocess(model).source.startswith("timm")


def test_explicit_forms() -> None:
    model = Tiny()
    assert resolve_preprocess(model, "ImageNet").mean == IMAGENET_MEAN
    none = resolve_preprocess(model, "none")
    assert none.mean == (0.0,) and none.std == (1.0,)  # for any number of channels
    mapping = resolve_preprocess(model, {"mean": [0.5], "std": [0.2, 0.3, 0.4], "input_size": [3, 64, 48]})
    assert mapping.mean == (0.5,) and mapping.std == (0.2, 0.3, 0.4)
    assert mapping.input_size == (64, 48) and mapping.source == "explicit mapping"
    assert resolve_preprocess(model, {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}).input_size is None
    assert resolve_preprocess(model, ATTACHED) is ATTACHED
    from_callable = resolve_preprocess(model, lambda x: x * 2 - 1)
    assert from_callable.source == "explicit callable"
    assert torch.equal(from_callable.module("cpu")(torch.ones(1, 3, 2, 2)), torch.ones(1, 3, 2, 2))


@pytest.mark.parametrize(
    ("preprocess", "match"),
    [
        ("bogus", r"unknown preprocess 'bogus'; use 'imagenet', 'none'"),
        ({"mean": (0.5, 0.5, 0.5)}, r"needs 'mean' and 'std' keys, got keys \['mean'\]"),
        ({"mean": (), "std": (1, 1, 1)}, r"mean must be one number or one per channel, got \(\)"),
        ({"mean": (0.5,), "std": "abc"}, "std must be one number or one per channel"),
        (42, "must be None, 'imagenet', 'none', a mapping .*; got int"),
    ],
)
def test_bad_forms_say_what_is_accepted(preprocess, match) -> None:
    with pytest.raises(InvalidArgumentError, match=match) as caught:
        resolve_preprocess(Tiny(), preprocess)
    assert isinstance(caught.value, ValueError)


def test_module_normalizes_per_channel() -> None:
    pre = Preprocess((0.5, 0.25, 0.0), (0.5, 0.25, 2.0))
    x = torch.linspace(0, 1, 2 * 3 * 4 * 4).view(2, 3, 4, 4)
    module = pre.module("cpu")
    assert isinstance(module, nn.Module)
    expected = (x - torch.tensor(pre.mean).view(1, 3, 1, 1)) / torch.tensor(pre.std).view(1, 3, 1, 1)
    assert torch.allclose(module(x), expected, atol=1e-6)
    assert torch.allclose(module(torch.full((1, 3, 1, 1), 0.5)).flatten(), torch.tensor([0.0, 1.0, 0.25]))


@pytest.mark.parametrize(
    "preprocess",
    [
        None,
        "imagenet",
        "none",
        {"mean": [0.5], "std": [0.5], "input_size": (32, 32)},
        torch.sigmoid,
        ATTACHED,
    ],
)
def test_describe_is_json(preprocess) -> None:
    pre = resolve_preprocess(Tiny(), preprocess)
    described = json.loads(json.dumps(pre.describe()))
    assert described["source"] == pre.source
    if pre.fn is None:
        assert described["mean"] == list(pre.mean) and described["std"] == list(pre.std)


def test_input_size_may_be_one_number_and_bad_sizes_are_explained() -> None:
    from featviz.model.preprocess import resolve_preprocess

    model = torch.nn.Identity()
    pre = resolve_preprocess(model, {"mean": [0.5] * 3, "std": [0.5] * 3, "input_size": 32})
    assert pre.input_size == (32, 32)
    with pytest.raises(InvalidArgumentError, match="input_size"):
        resolve_preprocess(model, {"mean": [0.5] * 3, "std": [0.5] * 3, "input_size": "big"})


def test_a_mean_that_does_not_fit_the_model_is_refused_by_prepare() -> None:
    import featviz

    model = nn.Sequential(nn.Conv2d(3, 2, 1))
    with pytest.raises(InvalidArgumentError, match="3-channel images but preprocess mean has 2 values"):
        featviz.prepare(model, preprocess={"mean": (0.5, 0.5), "std": (1, 1, 1)})
