"""ReLU gradient redirection: let gradient reach units that start switched off.

A unit deep in a network often sits behind ReLUs that are all off for the random starting image;
their gradient is exactly zero, so plain gradient ascent cannot move the image and the render
stays grey. Lucid's fix (Olah et al. 2017, Distill, "Feature Visualization"; lucid's
``redirected_relu_grad``) changes only the backward pass of ``ReLU``/``ReLU6`` for the first
steps: where an image's true ReLU gradient is zero everywhere, the gradient is passed through
the off (or saturated) positions whenever it points back into the active range.

featviz applies this with temporary forward hooks on the model's ``nn.ReLU`` and ``nn.ReLU6``
modules (timm's included), removed again after the first ``steps`` steps and on any exit, so the
user's model is never modified. Functional ``F.relu`` calls inside ``forward`` cannot be
reached this way and keep their ordinary gradient.

Example:
    >>> with RedirectedReLU(model):   # only in the first steps of a render
    ...     loss.backward()
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from featviz.model.hooks import scoped_hooks


class _Redirect(torch.autograd.Function):
    """Identity on the activation's output; redirected gradient to its input."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, out: torch.Tensor, upper: float) -> torch.Tensor:  # noqa: ANN401
        ctx.save_for_backward(pre)
        ctx.upper = upper
        return out.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # noqa: ANN401
        (pre,) = ctx.saved_tensors
        bounded = ctx.upper != float("inf")
        # Few float comparisons, the rest on booleans: this runs on every ReLU in the first steps.
        above = pre > 0
        below = pre < ctx.upper if bounded else None
        active = above & below if below is not None else above
        # The loss is minimized: a negative gradient raises the input, a positive one lowers it.
        raises = grad < 0
        allowed = above | raises
        if below is not None:
            allowed &= below | ~raises
        # Images whose true gradient vanished everywhere get the redirected one.
        alive = (active & (grad != 0)).flatten(1).any(1)
        dead = (~alive).view(-1, *([1] * (grad.dim() - 1)))
        return grad * (active | (allowed & dead)), None, None


class RedirectedReLU:
    """Context manager: redirect the gradient of every ``nn.ReLU`` / ``nn.ReLU6`` in ``model``.

    Hooks are added on entry and all removed on exit, whatever happens in between.
    """

    def __init__(self, model: nn.Module) -> None:
        # Upper bound of each ReLU-like module's clamp (inf for ReLU), by module id.
        self.uppers = {id(m): b[1] for m in model.modules() if (b := _bounds(m)) is not None}
        self.modules = [m for m in model.modules() if id(m) in self.uppers]
        self.hooks = ExitStack()
        self.inputs: dict[int, torch.Tensor] = {}

    def __enter__(self) -> RedirectedReLU:
        # Prepended so that hooks recording these modules' outputs (featviz's Recorder) see the
        # redirected tensor.
        self.hooks.enter_context(scoped_hooks(self.modules, self._save_input, self._redirect, prepend=True))
        return self

    def __exit__(self, *exc: object) -> None:
        self.hooks.close()
        self.inputs.clear()

    def _save_input(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        # In-place activations overwrite their input, so keep the pre-activation first.
        if torch.is_grad_enabled() and args and isinstance(args[0], torch.Tensor):
            self.inputs[id(module)] = args[0].clone() if getattr(module, "inplace", False) else args[0]

    def _redirect(
        self, module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor
    ) -> torch.Tensor | None:
        pre = self.inputs.pop(id(module), None)
        if pre is None or not isinstance(out, torch.Tensor) or not out.requires_grad or out.dim() < 2:
            return None
        return _Redirect.apply(pre, out, self.uppers[id(module)])


def _bounds(module: nn.Module) -> tuple[float, float] | None:
    """(lower, upper) of a ReLU-like clamp; None for other Hardtanh ranges."""
    if isinstance(module, nn.ReLU):
        return 0.0, float("inf")
    if isinstance(module, nn.Hardtanh) and module.min_val == 0:  # ReLU6 is Hardtanh(0, 6)
        return 0.0, float(module.max_val)
    return None
