"""ReLU gradient redirection: what the backward pass lets through, and that renders use it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import featviz
from featviz.errors import InvalidArgumentError
from featviz.options import REDIRECT_STEPS
from featviz.rendering.redirect import RedirectedReLU
from tests.conftest import assert_untouched, snapshot


def _grad_through(act: nn.Module, pre: torch.Tensor, upstream: torch.Tensor, redirect: bool) -> torch.Tensor:
    x = pre.clone().requires_grad_(True)
    wrapper = nn.Sequential(act)
    if redirect:
        with RedirectedReLU(wrapper):
            out = wrapper(x.clone())  # clone: in-place activations may not act on a leaf
    else:
        out = wrapper(x.clone())
    out.backward(upstream)
    assert x.grad is not None
    return x.grad


@pytest.mark.parametrize("inplace", [False, True])
def test_dead_relu_passes_only_gradient_that_pushes_back_up(inplace) -> None:
    pre = torch.tensor([[-1.0, -2.0, -0.5]])
    upstream = torch.tensor([[-1.0, 1.0, -3.0]])  # loss gradient: negative raises the input
    assert torch.equal(_grad_through(nn.ReLU(inplace), pre, upstream, False), torch.zeros(1, 3))
    assert torch.equal(
        _grad_through(nn.ReLU(inplace), pre, upstream, True), torch.tensor([[-1.0, 0.0, -3.0]])
    )


def test_live_images_keep_their_true_gradient() -> None:
    pre = torch.tensor([[1.0, -2.0], [-1.0, -2.0]])  # image 0 has a live unit, image 1 none
    upstream = torch.tensor([[-1.0, -1.0], [-1.0, -1.0]])
    grad = _grad_through(nn.ReLU(), pre, upstream, True)
    assert torch.equal(grad[0], torch.tensor([-1.0, 0.0]))  # ordinary ReLU gradient
    assert torch.equal(grad[1], torch.tensor([-1.0, -1.0]))  # redirected


def test_saturated_relu6_passes_gradient_that_pushes_back_down() -> None:
    pre = torch.tensor([[7.0, 8.0]])
    upstream = torch.tensor([[1.0, -1.0]])  # lowering the first input is allowed
    assert torch.equal(_grad_through(nn.ReLU6(), pre, upstream, True), torch.tensor([[1.0, 0.0]]))


def test_forward_values_are_unchanged_and_hooks_removed() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 1), nn.ReLU6())
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    before = snapshot(model)
    plain = model(x)
    with RedirectedReLU(model):
        redirected = model(x)
    assert torch.equal(plain, redirected)
    assert_untouched(model, before)


class _DeadStart(nn.Module):
    """A unit behind a ReLU that is off everywhere for any image in [0, 1] at the start."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.conv1.weight.abs_()
            self.conv1.bias.fill_(-1.8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 2, 1)
        with torch.no_grad():
            self.conv2.weight.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x)))


def test_render_wakes_a_dead_unit_only_with_redirection() -> None:
    model = _DeadStart()
    kwargs = {"steps": 40, "size": 16, "progress": False, "transforms": "none", "lr": 0.1}
    before = snapshot(model)
    pre = {"mean": [0.0], "std": [1.0]}

    def grey_start() -> featviz.param.FourierImage:  # Lucid's free contrast: a near-grey start
        return featviz.param.FourierImage(16, 1, contrast=None)

    stuck = featviz.render(
        model, "conv2:0", redirect_relu=False, preprocess=pre, param=grey_start(), **kwargs
    )
    woken = featviz.render(model, "conv2:0", redirect_relu=True, preprocess=pre, param=grey_start(), **kwargs)
    assert torch.allclose(stuck.history[-1], stuck.history[0])  # zero gradient: nothing moves
    assert woken.scores[0] > stuck.scores[0] + 0.1
    assert woken.settings["redirect_relu"] == min(REDIRECT_STEPS, kwargs["steps"])
    assert_untouched(model, before)


def test_redirect_relu_argument_is_checked(tiny) -> None:
    with pytest.raises(InvalidArgumentError, match="redirect_relu"):
        featviz.render(tiny, "conv3:1", redirect_relu=-1, steps=1, size=32, progress=False)
    result = featviz.render(tiny, "conv3:1", redirect_relu=5, steps=2, size=32, progress=False)
    assert result.settings["redirect_relu"] == 2  # never more than the steps
