"""Model facts: what featviz reads off a model's structure and outputs, in one place.

- :func:`default_layers`: the block outputs of a model (all of them, or about ``count`` spread
  over its depth) — the layers an explanation, a diagnosis and a microscope show by default;
- :func:`has_grid`: whether a layer's output has a spatial grid (feature maps or patch tokens);
- :func:`class_names`: the names of a classifier's outputs;
- :func:`classes_raised`: which classes a batch of pictures raises most above its average;
- :func:`in_depth_order`: layers checked against the model and put in forward order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from featviz.errors import FeatvizError, InvalidArgumentError
from featviz.model.device import free_memory
from featviz.model.hooks import find_module
from featviz.model.prepared import LayerInfo, Prepared


def default_layers(prepared: Prepared, count: int | None = None) -> list[str]:
    """The model's block outputs: all of them (``count`` None), or about ``count`` spread over
    the depth.

    The blocks are the composite children (modules with modules inside) of the ``nn.Sequential``
    or ``nn.ModuleList`` that spans most of the model's layers with a spatial grid: ``blocks`` in
    timm's EfficientNets and ViTs, ``stages``/``layers`` in ConvNeXt and Swin, ``features`` or
    ``encoder.layers`` in torchvision; when none spans half the model, the model's own composite
    children (``layer1``..``layer4`` of a torchvision ResNet). With more blocks than ``count``,
    the first is skipped (it sees little more than edges) and the last is always included.

    Raises:
        InvalidArgumentError: no layer of the model has a spatial grid.
    """
    grids = [info.layer for info in prepared.layers() if has_grid(info)]
    if not grids:
        raise InvalidArgumentError(
            f"the model ({prepared.name}) has no layer with a spatial grid to explain; "
            "featviz.layers(model) lists its layers"
        )
    position = {name: i for i, name in enumerate(grids)}

    def composite_children(name: str, module: nn.Module) -> list[str]:
        return [
            path
            for child_name, child in module.named_children()
            if (path := f"{name}.{child_name}" if name else child_name) in position
            and next(child.children(), None) is not None
        ]

    best: tuple[tuple[float, int], list[str]] | None = None
    for name, module in prepared.model.named_modules():
        if not isinstance(module, (nn.Sequential, nn.ModuleList)):
            continue
        children = composite_children(name, module)
        if len(children) >= 3:
            span = (position[children[-1]] - position[children[0]]) / max(1, len(grids) - 1)
            if best is None or (span, len(children)) > best[0]:
                best = ((span, len(children)), children)
    if best is not None and best[0][0] >= 0.5:
        blocks = best[1]
    else:
        blocks = composite_children("", prepared.model)
        if len(blocks) < 3:
            blocks = grids
    if count is None or len(blocks) <= count:
        return blocks
    picks = sorted({round(1 + i * (len(blocks) - 2) / (count - 1)) for i in range(count)})
    return [blocks[i] for i in picks]


def has_grid(info: LayerInfo) -> bool:
    """Whether a layer's output has a spatial grid of more than one position."""
    return info.channels is not None and len(info.spatial) == 2 and info.spatial[0] * info.spatial[1] > 1


def class_names(names: Sequence[str] | None, count: int) -> list[str]:
    """The names of ``count`` outputs: ``names`` checked, else ImageNet's for 1000 outputs (from
    timm), else ``"class <i>"``.

    Raises:
        InvalidArgumentError: ``names`` does not have one name per output.
    """
    if names is not None:
        names = [str(name) for name in names]
        if len(names) != count:
            raise InvalidArgumentError(
                f"class_names has {len(names)} names but the model has {count} outputs; give one per output"
            )
        return names
    if count == 1000:
        try:
            from timm.data import ImageNetInfo

            info = ImageNetInfo()
            return [str(info.index_to_description(i)) for i in range(count)]
        except (ImportError, OSError, ValueError):  # an older timm: numbers instead
            pass
    return [f"class {i}" for i in range(count)]


def classes_raised(
    logits: torch.Tensor, count: int, names: Sequence[str] | None = None
) -> list[list[tuple[int, str, float]]]:
    """Per picture, the ``count`` classes whose logits it raises most above the batch's average:
    ``[(class, name, raised), ...]`` — how a microscope unit or an atlas cell is labelled.

    Args:
        logits: ``(pictures, classes)``; a batch of one raises nothing above itself.
        names: the classes' names (default: :func:`class_names`).
    """
    logits = logits.detach().float().cpu()
    labels = class_names(names, logits.shape[1])
    raised = logits - logits.mean(0, keepdim=True)
    best = raised.topk(min(count, raised.shape[1]), dim=1)
    return [
        [(int(c), labels[int(c)], float(v)) for v, c in zip(values, indices, strict=True)]
        for values, indices in zip(best.values, best.indices, strict=True)
    ]


def in_depth_order(prepared: Prepared, layers: Sequence[str]) -> list[str]:
    """``layers`` checked against the model, without repeats, in the order of the forward pass.

    Raises:
        LayerNotFoundError: a layer the model does not have (with close matches).
        InvalidArgumentError: no layer given.
    """
    if not layers:
        raise InvalidArgumentError("layers must name at least one layer (or be left out for the default)")
    for layer in layers:
        find_module(prepared.model, layer)
    order = {info.layer: i for i, info in enumerate(prepared.layers())}
    return sorted(dict.fromkeys(layers), key=lambda name: order.get(name, len(order)))


def pass_bytes(prepared: Prepared, through: str) -> int:
    """About how many bytes one image's forward and backward pass up to ``through`` holds: the
    outputs of every layer up to it (in float32), kept for the backward pass and matched by their
    gradients — an upper bound (nested modules count twice), for sizing chunks of images.
    """
    total = 0
    for info in prepared.layers():
        total += 4 * max(1, math.prod(info.shape)) if info.shape else 0
        if info.layer == through:
            break
    return 2 * total


def images_per_pass(prepared: Prepared, through: str, cap: int, backward: bool = False) -> int:
    """How many images to pass through the model up to ``through`` at once: what fits in a quarter
    of the device's free memory (:func:`pass_bytes`; half of it without a backward pass), at least
    1 and at most ``cap`` — so a stage that loops over many images or units needs no more memory
    than one such chunk, and less where memory is short."""
    per_image = pass_bytes(prepared, through) // (1 if backward else 2)
    return max(1, min(cap, free_memory(prepared.device) // 4 // max(per_image, 1)))


def takes_size(prepared: Prepared, size: tuple[int, int], layers: Sequence[str]) -> bool:
    """Whether the model runs on images of ``size`` fed as they are (``resize=False`` renders):
    True when that is its own input size or it has none, or when a pass of one blank image of
    ``size`` through ``layers`` works (convolutional models); False for a model that takes one
    size only (e.g. a ViT with fixed position embeddings), whose renders are then resized."""
    if prepared.native_size is None or tuple(size) == tuple(prepared.native_size):
        return True
    blank = torch.zeros(1, prepared.channels, *size, device=prepared.device)
    try:
        with prepared.hooked(layers, size=(int(size[0]), int(size[1]))) as forward, torch.no_grad():
            forward(blank)
    except (FeatvizError, RuntimeError, AssertionError, ValueError):
        return False
    return True


def resize_for(
    prepared: Prepared, size: int | Sequence[int], layers: Sequence[str], given: object = None
) -> bool:
    """The ``resize`` render option for quick renders of ``layers`` at ``size``, smaller than the
    model's input (a microscope's draft pass): ``given`` when it is a bool, else False where the
    model takes such images as they are (:func:`takes_size`): fewer pixels per pass (about 2.3×
    cheaper at 128 px on EfficientNet-Lite0), at a cost in quality (benchmarks/RESULTS.md)."""
    if given is not None:
        return bool(given)
    side = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return not takes_size(prepared, side, layers)


__all__ = [
    "takes_size",
    "resize_for",
    "default_layers",
    "has_grid",
    "class_names",
    "classes_raised",
    "in_depth_order",
    "pass_bytes",
    "images_per_pass",
]
