"""Renders that start from a user's photo: caricatures (feature inversion) and feature accentuation.

Both start from a user's photo rather than from noise:

- :func:`caricature` renders an image whose activations at a layer point the same way as the
  photo's, and grow along that direction: what the layer "sees" in the photo, exaggerated
  (Mahendran & Vedaldi 2015, "Understanding Deep Image Representations by Inverting Them";
  Lucid's caricature notebook). A high ``power`` makes it a faithful feature inversion.
- :func:`accentuate` starts from the photo and pushes one unit up while staying close to the
  photo's activations at a layer, showing *what in this photo* the unit responds to (Hamblin,
  Fel, Saha, Konkle & Alvarez 2024, "Feature Accentuation: Revealing 'What' Features Respond to
  in Natural Images").

Example:
    >>> featviz.caricature("efficientnet_lite0", "cat.jpg", "blocks.4").save("caricature.png")
    >>> featviz.accentuate("efficientnet_lite0", "cat.jpg", "blocks.5:20").save("accent.png")
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from featviz.errors import InvalidArgumentError
from featviz.imaging import load_images, normalize_size
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.objectives import Acts, Objective, Shapes, unit
from featviz.rendering.result import RenderResult
from featviz.rendering.run import render
from featviz.targets import INPUT, OUTPUT, parse_target


def caricature(
    model: nn.Module | str,
    image: Any,  # noqa: ANN401 - a path, PIL image or tensor
    layer: str,
    *,
    power: float = 1.0,
    steps: int = 256,
    **render_kwargs: Any,  # noqa: ANN401
) -> RenderResult:
    """Render what ``layer`` represents in ``image``, exaggerated.

    The score of a render ``x`` is ``<a(x), a(image)> / |a(image)|`` times the cosine similarity
    of the two activation tensors to the power ``power`` (floored at 0.1), where ``a`` is the
    whole activation tensor of ``layer`` (all channels and positions).

    Args:
        model: an ``nn.Module`` (left untouched) or a zoo name.
        image: the photo: a path, PIL image or ``(3, H, W)`` tensor in [0, 1].
        layer: a layer name such as ``"blocks.4"`` (no channel).
        power: 0 = only grow along the photo's activation direction (strongest caricature);
            larger = stay closer to the photo's representation (feature inversion).
        steps: optimization steps.
        **render_kwargs: anything :func:`featviz.render` takes (``size``, ``param``,
            ``transforms``, ``seed``, ``init``, ...). Unlike a free render the default transforms
            are Lucid's ``"standard"`` (and lr 0.05 for the Fourier image): the score compares
            the render's activations with the photo's position by position, which the ``"wide"``
            transforms' large shifts and rescalings would misalign.

    Returns:
        A :class:`~featviz.rendering.result.RenderResult` with one image.
    """
    target = parse_target(layer)
    if target.channel is not None or target.layer in (INPUT, OUTPUT):
        raise InvalidArgumentError(f"caricature needs a hidden layer name such as 'blocks.4', got {layer!r}")
    if not isinstance(power, (int, float)) or power < 0:
        raise InvalidArgumentError(f"power must be a number >= 0, got {power!r}")
    prepared = _prepare(model, render_kwargs)
    reference = _activations(prepared, image, {target.layer}, render_kwargs)[target.layer]
    name = target.layer

    def validate(shapes: Shapes) -> None:
        if tuple(shapes[name]) != tuple(reference.shape[1:]):
            raise InvalidArgumentError(
                f"layer {name!r} gives shape {tuple(shapes[name])} for the render but "
                f"{tuple(reference.shape[1:])} for the photo; keep the render at the model's input size"
            )

    def fn(acts: Acts) -> torch.Tensor:
        a = acts[name].flatten(1)
        r = reference.to(a.device).flatten(1)
        dot = (a * r).sum(1) / r.norm().clamp(min=1e-8)
        cos = dot / a.norm(dim=1).clamp(min=1e-8)
        return dot * cos.clamp(min=0.1).pow(power)

    objective = Objective(fn, {name}, f"caricature({name}, power={power:g})", validate)
    return render(prepared, objective, steps=steps, **_aligned(render_kwargs))


def accentuate(
    model: nn.Module | str,
    image: Any,  # noqa: ANN401
    target: str,
    *,
    reg_layer: str | None = None,
    alpha: float = 1.0,
    steps: int = 128,
    **render_kwargs: Any,  # noqa: ANN401
) -> RenderResult:
    """Start from ``image`` and push ``target`` up while staying close to the photo.

    The score is ``target(x) - alpha * balance * distance(x)``, where ``distance`` is the L2
    distance between ``reg_layer``'s activations for ``x`` and for the photo, divided by the
    photo's activation norm, and ``balance`` makes the two terms' gradients equally strong on
    the photo itself (as Hamblin et al. 2024 do), so ``alpha`` means the same for every unit.

    Args:
        model: an ``nn.Module`` (left untouched) or a zoo name.
        image: the photo (path, PIL image or tensor in [0, 1]).
        target: the unit, e.g. ``"blocks.5:20"`` or ``"output:285"``.
        reg_layer: the layer to stay close on (default: the target's own layer, i.e. the
            logits for an ``output:`` target).
        alpha: strength of the closeness term; 0 = plain render started from the photo.
        steps: optimization steps (default 128: the point is a small change).
        **render_kwargs: anything :func:`featviz.render` takes; as for :func:`caricature`, the
            default transforms are ``"standard"`` (and lr 0.05 for the Fourier image).

    Returns:
        A :class:`~featviz.rendering.result.RenderResult` with one image; ``init`` is the photo.
    """
    if not isinstance(alpha, (int, float)) or alpha < 0:
        raise InvalidArgumentError(f"alpha must be a number >= 0, got {alpha!r}")
    if "init" in render_kwargs:
        raise InvalidArgumentError("accentuate starts from `image`; do not pass init= as well")
    parsed = parse_target(target)
    score = unit(parsed)
    reg = reg_layer or parsed.layer
    if parse_target(reg).channel is not None:
        raise InvalidArgumentError(f"reg_layer must be a layer name without a channel, got {reg_layer!r}")
    prepared = _prepare(model, render_kwargs)
    reference = _activations(prepared, image, {reg}, render_kwargs)[reg]

    def distance(acts: Acts) -> torch.Tensor:
        a = acts[reg].flatten(1)
        r = reference.to(a.device).flatten(1)
        # sqrt(x + eps): finite gradient even where the render equals the photo exactly.
        return ((a - r).square().sum(1) + 1e-12).sqrt() / r.norm().clamp(min=1e-8)

    balance = _gradient_balance(prepared, image, score, distance, reg, render_kwargs) if alpha else 0.0
    weight = alpha * balance

    def fn(acts: Acts) -> torch.Tensor:
        return score(acts) - weight * distance(acts)

    objective = Objective(
        fn, score.layers | {reg}, f"accentuate({score!r}, stay near the photo at {reg}, alpha={alpha:g})"
    )
    return render(prepared, objective, steps=steps, init=image, **_aligned(render_kwargs))


def _aligned(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Photo-seeded defaults: Lucid's small transforms (and its lr for the Fourier image), so the
    render stays aligned with the photo it is compared with."""
    kwargs = {"transforms": "standard", **kwargs}
    if kwargs.get("param", "fft") == "fft" and kwargs.get("lr") is None:
        kwargs["lr"] = 0.05
    return kwargs


def _prepare(model: nn.Module | str | Prepared, kwargs: dict[str, Any]) -> Prepared:
    """The prepared model, once: its reference activations and the render share it."""
    prepared = prepare(model, preprocess=kwargs.pop("preprocess", None), device=kwargs.pop("device", None))
    return prepared


def _photo(prepared: Prepared, image: Any, kwargs: dict[str, Any]) -> torch.Tensor:  # noqa: ANN401
    """The photo as a render with ``kwargs`` sees it: cropped to the render's size, in [0, 1]."""
    size = normalize_size(kwargs["size"]) if kwargs.get("size") is not None else prepared.default_size
    return load_images(image, size)[:1]


def _activations(
    prepared: Prepared,
    image: Any,
    layers: set[str],
    kwargs: dict[str, Any],  # noqa: ANN401
) -> dict[str, torch.Tensor]:
    """The photo's activations (batch of one, float, on the model's device)."""
    return {k: v.detach() for k, v in prepared.activations(_photo(prepared, image, kwargs), layers).items()}


def _gradient_balance(
    prepared: Prepared,
    image: Any,  # noqa: ANN401
    score: Objective,
    distance: Any,  # noqa: ANN401
    reg: str,
    kwargs: dict[str, Any],
) -> float:
    """|d score / d input| ÷ |d distance / d input|, measured on a slightly perturbed photo (at
    the photo itself the distance has no gradient)."""
    x = prepared.model_input(_photo(prepared, image, kwargs))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(x.device) * 0.05
    x = (x + noise).requires_grad_(True)
    with prepared.hooked(score.layers | {reg}, normalized=True, size=(x.shape[-2], x.shape[-1])) as forward:
        acts = {**forward(x), INPUT: x}
        (score_grad,) = torch.autograd.grad(score(acts).sum(), x, retain_graph=True)
        (dist_grad,) = torch.autograd.grad(distance(acts).sum(), x)
    return float(score_grad.norm() / dist_grad.norm().clamp(min=1e-12))
