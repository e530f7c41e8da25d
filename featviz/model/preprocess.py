"""The model's own input normalization, found from its metadata — never guessed silently.

Renders produce images in [0, 1]; most models expect ``(x - mean) / std``. :func:`resolve_preprocess`
picks, in order:

1. the explicit ``preprocess=`` argument: a :class:`Preprocess`, a mapping with ``mean``/``std``
   (and optionally ``input_size``), ``"imagenet"``, ``"none"`` (the model takes [0, 1] images),
   or any callable ``images -> model input``;
2. ``model.featviz_preprocess``, set by :func:`featviz.load_model` (torchvision weights' own
   transforms, the embedded EfficientNet-Lite entries);
3. a timm model's ``pretrained_cfg`` (``mean``, ``std``, ``input_size``);
4. ImageNet mean/std, the documented default for a bare ``nn.Module`` (no input size: the
   model sees images at the render size, 224 px unless ``size=`` says otherwise).

The source of the choice is recorded in ``RenderResult.settings["preprocess"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from featviz.errors import InvalidArgumentError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How images in [0, 1] become model input, and the model's preferred input size.

    Args:
        mean: per-channel mean subtracted from the image.
        std: per-channel standard deviation the image is divided by.
        input_size: ``(height, width)`` the model was trained at, or None if unknown.
        source: where these values came from (for the record).
        fn: a callable used instead of mean/std, e.g. ``lambda x: x * 255 - 117``.
    """

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    input_size: tuple[int, int] | None = None
    source: str = "explicit"
    fn: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, compare=False)

    def module(self, device: torch.device | str) -> nn.Module:
        """An ``nn.Module`` applying this preprocessing on ``device`` (constants moved once)."""
        if self.fn is not None:
            return _Callable(self.fn)
        return _Normalize(self.mean, self.std, device)

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary."""
        if self.fn is not None:
            return {"fn": repr(self.fn), "source": self.source}
        return {
            "mean": list(self.mean),
            "std": list(self.std),
            "input_size": list(self.input_size) if self.input_size else None,
            "source": self.source,
        }


class _Normalize(nn.Module):
    mean: torch.Tensor
    inv_std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device | str):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, device=device).view(1, -1, 1, 1))
        self.register_buffer("inv_std", 1.0 / torch.tensor(std, device=device).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.inv_std


class _Callable(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


IMAGENET = Preprocess(IMAGENET_MEAN, IMAGENET_STD, None, "ImageNet mean/std")
NONE = Preprocess((0.0,), (1.0,), None, "none: the model takes [0, 1] images")


def _three(values: Any, what: str) -> tuple[float, ...]:  # noqa: ANN401 - from metadata or a user's dict
    """Per-channel numbers: one for every channel, or one per channel (3 for RGB; a grayscale or
    multispectral model's own count, checked against the model by featviz.prepare)."""
    try:
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        numbers = ()
    if not numbers:
        raise InvalidArgumentError(f"preprocess {what} must be one number or one per channel, got {values!r}")
    return numbers


def _size(value: Any) -> tuple[int, int] | None:  # noqa: ANN401 - from metadata or a user's dict
    """An input size given as N, (H, W) or timm's (C, H, W)."""
    if value is None:
        return None
    try:
        dims = [int(value)] if isinstance(value, (int, float)) else [int(v) for v in value]
    except (TypeError, ValueError):
        dims = []
    if not dims or min(dims) < 1:
        raise InvalidArgumentError(
            f"preprocess input_size must be N, (height, width) or (channels, height, width), got {value!r}"
        )
    return (dims[-2], dims[-1]) if len(dims) >= 2 else (dims[0], dims[0])


def resolve_preprocess(model: nn.Module, preprocess: object = None) -> Preprocess:
    """Find the preprocessing for ``model`` (see the module docstring for the order).

    Raises:
        InvalidArgumentError: ``preprocess`` is of an unusable kind.
    """
    if preprocess is not None:
        return _explicit(preprocess)
    attached = getattr(model, "featviz_preprocess", None)
    if isinstance(attached, Preprocess):
        return attached
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, Mapping) and "mean" in cfg and "std" in cfg:
        return Preprocess(
            _three(cfg["mean"], "mean"),
            _three(cfg["std"], "std"),
            _size(cfg.get("input_size")),
            f"timm pretrained_cfg of {type(model).__name__}",
        )
    return Preprocess(
        IMAGENET_MEAN,
        IMAGENET_STD,
        None,
        "default for a bare nn.Module: ImageNet mean/std (pass preprocess= to change)",
    )


def _explicit(preprocess: object) -> Preprocess:
    if isinstance(preprocess, Preprocess):
        return preprocess
    if isinstance(preprocess, str):
        if preprocess.lower() == "imagenet":
            return IMAGENET
        if preprocess.lower() == "none":
            return NONE
        raise InvalidArgumentError(
            f"unknown preprocess {preprocess!r}; use 'imagenet', 'none', a dict with mean/std, "
            "a featviz.Preprocess, or a callable"
        )
    if isinstance(preprocess, Mapping):
        if "mean" not in preprocess or "std" not in preprocess:
            raise InvalidArgumentError(
                f"a preprocess mapping needs 'mean' and 'std' keys, got keys {sorted(preprocess)}"
            )
        return Preprocess(
            _three(preprocess["mean"], "mean"),
            _three(preprocess["std"], "std"),
            _size(preprocess.get("input_size")),
            "explicit mapping",
        )
    if callable(preprocess):
        return Preprocess(source="explicit callable", fn=preprocess)  # type: ignore[arg-type]
    raise InvalidArgumentError(
        f"preprocess must be None, 'imagenet', 'none', a mapping with mean/std, a "
        f"featviz.Preprocess or a callable; got {type(preprocess).__name__}"
    )
