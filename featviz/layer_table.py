"""Listing the layers of a model that a target can address."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from featviz.hooks import first_tensor, guarded, model_device
from featviz.param import normalize_size
from featviz.preprocess import resolve_preprocess
from featviz.zoo import resolve_model


def layers(
    model: nn.Module | str,
    size: int | tuple[int, int] | None = None,
    device: torch.device | str | None = None,
) -> LayerTable:
    """List every addressable layer with its output channels and spatial size.

    Runs one forward pass of a grey image at the model's input size (or ``size``), in execution
    order, so later rows are deeper layers. The model is left as it was.

    Example:
        >>> print(featviz.layers("efficientnet_lite0"))
        layer        type        channels  spatial
        conv_stem    Conv2d      32        112x112
        ...

    Args:
        model: an ``nn.Module`` or a zoo name.
        size: input size (default: the model's input size from its preprocessing, else 224).
        device: where to run (default: the model's device).

    Returns:
        A :class:`LayerTable` (a list of :class:`LayerInfo`) that prints as a table.
    """
    model = resolve_model(model, device)
    pre = resolve_preprocess(model)
    height, width = normalize_size(size) if size is not None else (pre.input_size or (224, 224))
    x = torch.full((1, 3, height, width), 0.5, device=device or model_device(model))
    return trace_layers(model, pre.module(x.device)(x))


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer: its dotted path, module type and output shape (batch dropped)."""

    layer: str
    type: str
    channels: int | None
    spatial: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """Output shape without the batch dimension."""
        return (self.channels, *self.spatial) if self.channels is not None else ()


class LayerTable(list[LayerInfo]):
    """The list returned by :func:`featviz.layers`; prints as an aligned table."""

    def names(self) -> list[str]:
        """The layer paths, in execution order."""
        return [info.layer for info in self]

    def __str__(self) -> str:
        rows = [("layer", "type", "channels", "spatial")]
        for info in self:
            spatial = "x".join(str(s) for s in info.spatial) if info.spatial else "-"
            channels = "-" if info.channels is None else str(info.channels)
            rows.append((info.layer, info.type, channels, spatial))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )

    __repr__ = __str__


def trace_layers(model: nn.Module, x: torch.Tensor) -> LayerTable:
    """Run ``x`` through the model once and list every module whose output is a tensor.

    Layers come in execution order, so "deeper" means later in the list.
    """
    seen: dict[str, LayerInfo] = {}
    handles = []

    def hook_for(name: str):  # noqa: ANN202 - a torch hook signature
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            tensor = first_tensor(output)
            if name in seen or tensor is None or tensor.dim() < 1:
                return
            shape: tuple[int, ...] = tuple(tensor.shape[1:])
            spatial: tuple[int, ...]
            channels = shape[0] if shape else None
            if len(shape) == 2:  # (batch, tokens, channels): channels come last
                channels, spatial = shape[1], shape[:1]
            else:
                spatial = shape[1:]
            seen[name] = LayerInfo(name, type(module).__name__, channels, spatial)

        return hook

    with guarded(model):
        try:
            for name, module in model.named_modules():
                if name:
                    handles.append(module.register_forward_hook(hook_for(name)))
            with torch.no_grad():
                model(x)
        finally:
            for handle in handles:
                handle.remove()
    return LayerTable(seen.values())
