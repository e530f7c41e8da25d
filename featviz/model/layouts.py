"""Activation layouts: which axis of a layer's output holds the channels.

A recorded activation is one of:

- ``"nchw"`` — a feature map ``(B, C, H, W)`` (convolutions, BatchNorm, most CNN blocks);
- ``"nhwc"`` — a feature map ``(B, H, W, C)`` (Swin stages and blocks, ConvNeXt block internals:
  ``nn.Linear`` / ``nn.LayerNorm`` applied to the last axis of a 4-D tensor);
- ``"tokens"`` — a sequence ``(B, T, C)`` (vision transformers), on the model's patch grid after
  its prefix tokens when the model's metadata says so (:func:`token_metadata`);
- ``"vector"`` — ``(B, C)`` (pooled features, logits);
- ``"attention"`` — attention probabilities ``(B, heads, T, T)``, inside a module with
  ``num_heads`` (listed, not a target: a head is targeted as ``"L:hN"`` on the attention module).

:func:`decide` works a layer's layout out from the module's type and from what the modules
before it did, never from the sizes alone: a 4-D tensor is channels-last when it came out of an
``nn.Linear``/``nn.LayerNorm`` acting on its last axis or a permutation to channels-last, and keeps
the layout of its input through element-wise modules and blocks. Where that leaves a layer
undecided the layer table says ``?`` and a target on it raises :class:`LayoutError`, asking for an
explicit ``layouts={"layer": "nhwc"}``.

Objectives see every feature map channels-first: :func:`canonical` turns an ``nhwc`` activation
into a ``(B, C, H, W)`` view (no copy; gradients flow through it), and the patch tokens of a
transformer layer into a ``(B, C, rows, cols)`` map with its prefix tokens beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from featviz.errors import LayoutError

KINDS = ("nchw", "nhwc", "tokens", "vector")


@dataclass(frozen=True)
class Layout:
    """How one layer's output is laid out.

    Attributes:
        kind: one of :data:`KINDS`, or ``"?"`` when undecided.
        channels: the number of channels (None for a scalar output).
        grid: the spatial size ``(H, W)`` of a feature map, or ``(T,)`` tokens; ``()`` otherwise.
    """

    kind: str
    channels: int | None
    grid: tuple[int, ...]
    prefix: int = 0

    @property
    def patch_grid(self) -> tuple[int, int] | None:
        """For tokens laid on a patch grid: ``(rows, cols)``; else None."""
        return (self.grid[0], self.grid[1]) if self.kind == "tokens" and len(self.grid) == 2 else None


def token_metadata(model: nn.Module) -> tuple[int | None, tuple[int, int] | None]:
    """A transformer's prefix tokens (class, distillation, registers) and patch grid, from its
    metadata: timm's ``num_prefix_tokens`` and ``patch_embed.grid_size``; torchvision's
    ``class_token``, ``image_size`` and ``patch_size``. ``(None, None)`` when it has none."""
    prefix = getattr(model, "num_prefix_tokens", None)
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if prefix is None and isinstance(getattr(model, "class_token", None), torch.Tensor):
        prefix = 1
        image, patch = getattr(model, "image_size", None), getattr(model, "patch_size", None)
        if isinstance(image, int) and isinstance(patch, int) and patch > 0:
            grid = (image // patch, image // patch)
    grid = (int(grid[0]), int(grid[1])) if isinstance(grid, (tuple, list)) and len(grid) == 2 else None
    return (int(prefix) if isinstance(prefix, int) else None), grid


def _tokens(shape: tuple[int, ...], metadata: tuple[int | None, tuple[int, int] | None]) -> Layout:
    """A ``(T, C)`` output: on the model's patch grid after its prefix tokens when the counts
    match the metadata exactly; otherwise a plain sequence of T tokens."""
    prefix, grid = metadata
    tokens, channels = shape
    if grid is not None and tokens == (prefix or 0) + grid[0] * grid[1]:
        return Layout("tokens", channels, grid, prefix or 0)
    return Layout("tokens", channels, (tokens,))


def check_layouts(layouts: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a user's ``layouts={"layer": "nhwc"}`` mapping.

    Raises:
        LayoutError: not a mapping of layer names to one of :data:`KINDS`.
    """
    if layouts is None:
        return {}
    if not isinstance(layouts, Mapping):
        raise LayoutError(
            f"layouts must be a dict such as {{'layers.0': 'nhwc'}}, got {type(layouts).__name__}"
        )
    bad = {k: v for k, v in layouts.items() if not isinstance(k, str) or v not in KINDS}
    if bad:
        raise LayoutError(f"layouts {bad!r}: each layer needs one of {', '.join(KINDS)}")
    return dict(layouts)


def parse_layouts(text: str) -> dict[str, str]:
    """Parse the command line's ``--layouts layers.0=nhwc,blocks.3=nchw``.

    Raises:
        LayoutError: text not of the form ``LAYER=KIND[,LAYER=KIND...]``.
    """
    pairs = {}
    for part in text.split(","):
        layer, sep, kind = part.strip().partition("=")
        if not sep or not layer or kind not in KINDS:
            raise LayoutError(
                f"cannot parse layouts {text!r}: expected LAYER=KIND[,LAYER=KIND...] with KIND one of "
                f"{', '.join(KINDS)}, e.g. 'layers.0=nhwc'"
            )
        pairs[layer] = kind
    return pairs


def of_shape(kind: str, shape: tuple[int, ...]) -> Layout:
    """The layout of an output of ``shape`` (batch dropped) read as ``kind``."""
    if kind == "nchw" and len(shape) == 3:
        return Layout(kind, shape[0], shape[1:])
    if kind == "nhwc" and len(shape) == 3:
        return Layout(kind, shape[2], shape[:2])
    if kind == "tokens" and len(shape) == 2:
        return Layout(kind, shape[1], shape[:1])
    if kind == "vector" and len(shape) == 1:
        return Layout(kind, shape[0], ())
    if kind == "?":
        return Layout(kind, None, shape)
    raise LayoutError(f"a {kind!r} layout does not fit an output of shape {tuple(shape)} (batch dropped)")


def _channels_last_maker(module: nn.Module, output: torch.Tensor) -> bool | None:
    """Whether ``module`` itself makes its 4-D output channels-last (True), channels-first
    (False), or keeps its input's layout (None)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)):
        return False
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return False
    if isinstance(module, nn.Linear):
        return True  # acts on the last axis: that axis is the channels
    if isinstance(module, nn.LayerNorm):
        shape = tuple(module.normalized_shape)
        return len(shape) == 1 and shape[0] == output.shape[-1]
    dims = getattr(module, "dims", None)  # torchvision.ops.misc.Permute
    if type(module).__name__ == "Permute" and isinstance(dims, (list, tuple)):
        return {(0, 2, 3, 1): True, (0, 3, 1, 2): False}.get(tuple(dims))
    return None


def decide(
    model: nn.Module,
    outputs: Mapping[str, tuple[nn.Module, torch.Tensor]],
    inputs: Mapping[str, torch.Tensor | None],
    given: Mapping[str, str],
    image: torch.Tensor,
) -> dict[str, Layout]:
    """The layout of every traced layer, in execution order.

    Args:
        model: the model.
        outputs: ``{layer: (module, output)}`` in the order the modules finished.
        inputs: ``{layer: the module's first tensor input}`` (or None).
        given: the user's explicit layouts, which win.
        image: the model's input tensor (channels-first).
    """
    known: dict[int, str] = {id(image): "nchw"}  # tensor id -> kind, for 4-D tensors seen so far
    metadata = token_metadata(model)
    layouts: dict[str, Layout] = {}
    for layer, (module, output) in outputs.items():
        shape = tuple(output.shape[1:])
        if layer in given and given[layer] == "tokens" and output.dim() == 3:
            layouts[layer] = _tokens(shape, metadata)
            continue
        if layer in given:
            layouts[layer] = of_shape(given[layer], shape)
            if output.dim() == 4:
                known[id(output)] = given[layer]
            continue
        if output.dim() == 2:
            layouts[layer] = Layout("vector", shape[0], ())
            continue
        if output.dim() == 3:
            layouts[layer] = _tokens(shape, metadata)
            continue
        if output.dim() != 4:
            layouts[layer] = Layout("?", None, shape)
            continue
        heads = _attention_heads_of(model, layer)
        if heads is not None and shape[0] == heads and shape[1] == shape[2] and id(output) not in known:
            layouts[layer] = Layout("attention", heads, shape[1:])  # (heads, T, T) probabilities
            continue
        kind = known.get(id(output))
        if kind is None:
            made = _channels_last_maker(module, output)
            if made is not None:
                kind = "nhwc" if made else "nchw"
        if kind is None:  # an element-wise module keeps its input's layout; so does one inside a
            # block that gets a tensor made by plain tensor code, if the block's input looks the same
            for owner in _self_and_ancestors(layer):
                source = inputs.get(owner)
                if source is not None and source.shape == output.shape and id(source) in known:
                    kind = known[id(source)]
                    break
        if kind is None:  # a block: the layout of the last of its modules with this output's shape
            inside = [c for c in layouts if c.startswith(layer + ".")]  # its modules, done before it
            same = [c for c in inside if layouts[c].kind in ("nchw", "nhwc")]
            same = [c for c in same if tuple(outputs[c][1].shape) == tuple(output.shape)]
            if same:
                kind = layouts[same[-1]].kind
        layouts[layer] = of_shape(kind or "?", shape)
        if kind is not None:
            known[id(output)] = kind
    return layouts


def _attention_heads_of(model: nn.Module, layer: str) -> int | None:
    """The head count of the attention module ``layer`` sits in (its own ``num_heads`` or an
    enclosing module's), or None."""
    modules = dict(model.named_modules())
    for owner in _self_and_ancestors(layer):
        heads = getattr(modules.get(owner), "num_heads", None)
        if isinstance(heads, int) and heads > 0:
            return heads
    return None


def _self_and_ancestors(layer: str) -> list[str]:
    """``"a.b.c"`` → ``["a.b.c", "a.b", "a"]``."""
    parts = layer.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


#: Where the prefix tokens (class token first) of a gridded token layer are found in the
#: activations objectives see: ``acts[layer + PREFIX]``, ``(B, prefix, C)``.
PREFIX = "@prefix"


def canonical(layer: str, act: torch.Tensor, layout: Layout | None) -> dict[str, torch.Tensor]:
    """The activation as objectives read it (views, no copies): ``nhwc`` feature maps as
    ``(B, C, H, W)``; tokens on a patch grid as the patch tokens' ``(B, C, rows, cols)`` map plus
    their prefix tokens under ``layer + PREFIX``; everything else as it is."""
    if layout is None:
        return {layer: act}
    if layout.kind == "nhwc" and act.dim() == 4:
        return {layer: act.permute(0, 3, 1, 2)}
    grid = layout.patch_grid
    if grid is not None and act.dim() == 3 and act.shape[1] == layout.prefix + grid[0] * grid[1]:
        patches = act[:, layout.prefix :].reshape(act.shape[0], *grid, act.shape[2]).permute(0, 3, 1, 2)
        return {layer: patches, layer + PREFIX: act[:, : layout.prefix]}
    return {layer: act}


def patch_heads(heads: torch.Tensor, metadata: tuple[int | None, tuple[int, int] | None]) -> torch.Tensor:
    """An attention module's per-head outputs ``(B, heads, T, head_dim)`` at the patch tokens
    only, when the model's metadata says which tokens those are; all tokens otherwise."""
    prefix, grid = metadata
    if grid is not None and heads.shape[2] == (prefix or 0) + grid[0] * grid[1]:
        return heads[:, :, prefix or 0 :]
    return heads
