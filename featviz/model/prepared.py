"""The prepared model: the one place that knows how to get a model's activations for images.

A :class:`Prepared` model holds what every feature needs to know about a model — the module
itself on its device, its preprocessing, its input size, its table of layers — and runs images
through it under the scoped, guarded hooks of :mod:`featviz.model.hooks`. Rendering, the photo-based
methods, metrics, exemplars and :func:`layers` all go through it, so these facts are decided
once.

Example:
    >>> model = featviz.prepare("efficientnet_lite0")
    >>> acts = model.activations(photos, {"blocks.4"})["blocks.4"]    # (N, 112, 14, 14)
    >>> print(model.layers())
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from featviz import markup
from featviz.errors import InvalidArgumentError, LayoutError
from featviz.imaging import normalize_size, resize
from featviz.model import layouts as layouts_module
from featviz.model.device import best_device, resolve_device
from featviz.model.hooks import (
    Recorder,
    captured,
    find_module,
    first_tensor,
    guarded,
    model_device,
    scoped_hooks,
    trace,
)
from featviz.model.preprocess import Preprocess, resolve_preprocess
from featviz.model.zoo import load_model, resolve_model
from featviz.targets import HEADS, INPUT, OUTPUT

#: The image size used when neither the model's metadata nor the caller gives one.
FALLBACK_SIZE = (224, 224)

Forward = Callable[[torch.Tensor], dict[str, torch.Tensor]]
T = TypeVar("T")


def _laid_out(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` in channels-last memory order when asked (the same values and shape)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@dataclass(frozen=True)
class LayerInfo:
    """One addressable layer: its dotted path, module type and output shape (batch dropped)."""

    layer: str
    type: str
    channels: int | None
    spatial: tuple[int, ...]
    layout: str = "nchw"
    prefix: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Output shape without the batch dimension, channels first (as objectives see it)."""
        return (self.channels, *self.spatial) if self.channels is not None else ()


class LayerTable(list[LayerInfo]):
    """The list returned by :func:`featviz.layers`; prints as an aligned table, and a notebook
    shows it as an HTML table."""

    def names(self) -> list[str]:
        """The layer paths, in execution order."""
        return [info.layer for info in self]

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = [("layer", "type", "layout", "channels", "spatial")]
        for info in self:
            spatial = "x".join(str(s) for s in info.spatial) if info.spatial else "-"
            channels = "-" if info.channels is None else str(info.channels)
            layout = f"{info.layout}+{info.prefix}" if info.prefix else info.layout
            rows.append((info.layer, info.type, layout, channels, spatial))
        return rows

    def __str__(self) -> str:
        rows = self._rows()
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """The table as HTML for a notebook (every name shown as text)."""
        header, *rows = self._rows()
        return markup.element(
            "table",
            markup.element("caption", f"{len(self)} layers in execution order"),
            markup.element("thead", markup.element("tr", *(markup.element("th", cell) for cell in header))),
            markup.element(
                "tbody",
                *(markup.element("tr", *(markup.element("td", cell) for cell in row)) for row in rows),
            ),
        )


@dataclass(eq=False)
class Prepared:
    """A model ready for featviz: the module on its device, its preprocessing and input size.

    Build one with :func:`prepare`. The module is the caller's own (or a copy on another device);
    it is only ever run in eval mode under :func:`featviz.model.hooks.guarded`, so it comes back as it was.

    Attributes:
        model: the ``nn.Module``.
        name: a zoo name, or the module's class name (for the record).
        preprocess: its input normalization and, when known, its input size.
        device: where it runs.
    """

    model: nn.Module
    name: str
    preprocess: Preprocess
    device: torch.device
    given_layouts: dict[str, str] = field(default_factory=dict)
    _normalize: nn.Module | None = field(default=None, repr=False)
    _tables: dict[tuple[int, int], LayerTable] = field(default_factory=dict, repr=False)
    _kinds_seen: dict[tuple[frozenset[str], tuple[int, int]], dict[str, layouts_module.Layout]] = field(
        default_factory=dict, repr=False
    )

    @property
    def channels(self) -> int:
        """How many channels featviz renders for this model: the input channels of its first
        convolution (3 when it has none), or 3 when ``preprocess`` is a function (which then
        turns RGB images into what the model takes)."""
        return _input_channels(self.model, self.preprocess)

    @property
    def native_size(self) -> tuple[int, int] | None:
        """The input size the model was trained at, or None when its metadata does not say."""
        return self.preprocess.input_size

    @property
    def default_size(self) -> tuple[int, int]:
        """The image size to use when the caller gives none: the native size, else 224 px."""
        return self.native_size or FALLBACK_SIZE

    def input_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """The size images of ``image_size`` are resized to before the model: the native size,
        or the image's own when the model has none."""
        return self.native_size or (int(image_size[0]), int(image_size[1]))

    @property
    def normalize(self) -> nn.Module:
        """The preprocessing as a module on the model's device."""
        if self._normalize is None:
            self._normalize = self.preprocess.module(self.device)
        return self._normalize

    def fit_channels(self, images: torch.Tensor) -> torch.Tensor:
        """Photos for this model: RGB photos become grey (ITU-R BT.601 luma) for a grayscale
        model; images that already have the model's channel count pass as they are.

        Raises:
            InvalidArgumentError: images whose channels the model cannot take.
        """
        if images.shape[1] == self.channels:
            return images
        if self.channels == 1 and images.shape[1] == 3:
            weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device)
            return (images * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)
        raise InvalidArgumentError(
            f"the model ({self.name}) takes {self.channels}-channel images but these have "
            f"{images.shape[1]}; give {self.channels}-channel images (photos work for RGB and "
            "grayscale models)"
        )

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → what the model takes: on its device, resized, normalized."""
        images = self.fit_channels(images.to(self.device))
        return self.normalize(resize(images, self.input_size((images.shape[-2], images.shape[-1]))))

    @contextmanager
    def hooked(
        self,
        layers: Iterable[str],
        *,
        stop_early: bool = True,
        bf16: bool = False,
        channels_last: bool = False,
        compile: bool = False,
        normalized: bool = False,
        size: tuple[int, int] | None = None,
    ) -> Iterator[Forward]:
        """Guard the model and hook ``layers`` for the ``with`` block; yields ``forward``.

        ``size`` is the input size the images will have (default :attr:`default_size`), which
        decides token grids. ``forward(x)`` takes images in [0, 1] already at
        :meth:`input_size` (with ``normalized``: already preprocessed, as :meth:`model_input`
        gives), normalizes them and returns ``{layer: float activation}`` (plus ``"output"``
        when asked for; feature maps channels-first, see :func:`featviz.model.layouts.canonical`),
        stopping after the deepest needed layer unless ``compile`` (a compiled graph runs whole).
        """
        model = self.model
        layers = set(layers)
        kinds = self._kinds(layers, size or self.default_size)
        with guarded(model), Recorder(model, layers, stop_early=stop_early and not compile) as recorder:
            if compile:
                recorder.model = torch.compile(model)
            autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)
            normalize = self.normalize if not normalized else _identity
            layout: list[bool] = []  # after the first pass: whether the model is fed channels-last
            metadata = layouts_module.token_metadata(model)

            def forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
                x = normalize(x)
                with autocast:
                    # The first pass tells whether the model can take these images at all; later
                    # errors (a user's hook, say) pass through as they are.
                    if layout:
                        acts = recorder.run(_laid_out(x, layout[0]))
                    else:
                        acts, fed = self._first_run(recorder.run, x, channels_last)
                        layout.append(fed)
                seen: dict[str, torch.Tensor] = {}
                for layer, act in acts.items():
                    if layer.endswith(HEADS):
                        seen[layer] = layouts_module.patch_heads(act.float(), metadata)
                    else:
                        seen.update(layouts_module.canonical(layer, act.float(), kinds.get(layer)))
                return seen

            yield forward

    def _kinds(self, layers: set[str], size: tuple[int, int]) -> dict[str, layouts_module.Layout]:
        """The layouts of ``layers`` that are feature maps; a featviz error for undecided ones."""
        hidden = {layer for layer in layers - {INPUT, OUTPUT} if not layer.endswith(HEADS)}
        if not hidden or (not self.given_layouts and not any(self._may_be_channels_last())):
            return {}
        key = (frozenset(hidden), size)
        if key not in self._kinds_seen:  # a pass that stops after these layers, once per set
            table = self._table(size, set(hidden))
            if any(info.layout == "?" for info in table if info.layer in hidden):
                # a pass cut short can miss what decides a layout (the parent of BatchNormAct2d's
                # .act returns after it): the whole model's table decides it
                table = self.layers(size)
            self._kinds_seen[key] = {
                info.layer: layouts_module.Layout(info.layout, info.channels, info.spatial, info.prefix)
                for info in table
                if info.layer in hidden
            }
        kinds = self._kinds_seen[key]
        maps = sorted(layer for layer, layout in kinds.items() if layout.kind == "attention")
        if maps:
            owner = maps[0].rsplit(".", 1)[0]
            raise LayoutError(
                f"{maps} hold attention probabilities (heads x tokens x tokens), which have no "
                f"channels to target; target a head of the attention module instead, e.g. '{owner}:h0'"
            )
        undecided = sorted(layer for layer, layout in kinds.items() if layout.kind == "?")
        if undecided:
            raise LayoutError(
                f"featviz cannot tell whether the output of {undecided} is channels-first or "
                "channels-last from the modules that made it; say which with "
                f"layouts={{{undecided[0]!r}: 'nchw'}} (or 'nhwc'; --layouts {undecided[0]}=nhwc on "
                "the command line)"
            )
        return kinds

    def _may_be_channels_last(self) -> Iterator[bool]:
        """Whether the model has modules that can make channels-last feature maps (a quick
        check that spares plain CNNs the layout trace)."""
        for module in self.model.modules():
            yield isinstance(module, (nn.Linear, nn.LayerNorm)) or type(module).__name__ == "Permute"

    def _first_run(
        self, run: Callable[[torch.Tensor], T], x: torch.Tensor, channels_last: bool
    ) -> tuple[T, bool]:
        """The first pass and whether it fed the model channels-last: so where asked, unless the
        model fails on it (e.g. it flattens a feature map with ``.view()``); then channels-first."""
        if channels_last:
            try:
                return run(_laid_out(x, True)), True
            except (torch.OutOfMemoryError, InvalidArgumentError):
                raise
            except (RuntimeError, AssertionError, ValueError):  # what _run turns into its error
                pass
        return self._run(run, x), False

    def run(self, x: torch.Tensor) -> Any:  # noqa: ANN401 - whatever the model returns
        """The (guarded) model on ``x``, already its input (:meth:`model_input`); a model that
        cannot take it raises a featviz error instead of torch's."""
        return self._run(self.model, x)

    def _run(self, run: Callable[[torch.Tensor], T], x: torch.Tensor) -> T:
        """``run(x)`` with a model that cannot take the images turned into a featviz error."""
        try:
            return run(x)
        except torch.OutOfMemoryError:
            raise
        except (RuntimeError, AssertionError, ValueError) as error:  # timm asserts input sizes
            if isinstance(error, InvalidArgumentError):
                raise
            raise self.failure(error, tuple(x.shape)) from error

    def each_batch(
        self,
        images: torch.Tensor,
        layers: Iterable[str],
        visit: Callable[[slice, dict[str, torch.Tensor]], None],
        batch: int = 32,
    ) -> None:
        """Run ``images`` through the model ``batch`` at a time, without gradients, and call
        ``visit(rows, {layer: activation})`` for each batch (activations on the model's device),
        so a caller can reduce as it goes and memory stays bounded.

        The model is guarded and hooked only while this call runs, also if ``visit`` raises.

        Raises:
            InvalidArgumentError: ``batch`` < 1, or the model cannot run on the images.
        """
        if batch < 1:
            raise InvalidArgumentError(f"batch must be a positive int, got {batch!r}")
        size = self.input_size((images.shape[-2], images.shape[-1]))
        with self.hooked(layers, size=size) as forward, torch.no_grad():
            for start in range(0, len(images), batch):
                rows = slice(start, min(len(images), start + batch))
                x = self.fit_channels(images[rows].to(self.device))
                visit(rows, forward(resize(x, self.input_size((x.shape[-2], x.shape[-1])))))

    def activations(
        self, images: torch.Tensor, layers: Iterable[str], batch: int = 32
    ) -> dict[str, torch.Tensor]:
        """``{layer: activation}`` of ``images`` in [0, 1] (``(N, 3, H, W)``), float, on the device.

        Raises:
            InvalidArgumentError: no images, or the model cannot run on them.
            LayerNotFoundError: a layer the model does not have.
        """
        parts: list[dict[str, torch.Tensor]] = []
        self.each_batch(images, set(layers), lambda rows, acts: parts.append(acts), batch)
        if not parts:
            raise InvalidArgumentError("expected at least one image, got an empty batch")
        return {layer: torch.cat([part[layer] for part in parts]) for layer in parts[0]}

    def gradients(
        self,
        images: torch.Tensor,
        layers: Iterable[str],
        score: Callable[[torch.Tensor], torch.Tensor],
        through: str | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """Activations of ``layers`` for ``images`` in [0, 1], and the gradient of
        ``score(output).sum()`` with respect to each: what attribution needs. With ``through``,
        ``score`` takes that (later) layer's activation as objectives see it instead of the
        output (e.g. how a unit depends on the layer below it).

        Both come back as objectives see them (feature maps and patch-token grids as
        ``(B, C, H, W)``), detached, float, on the device; plus the model's output.

        Raises:
            InvalidArgumentError: a layer whose output does not reach the model's output (so it
                has no gradient), attention-head targets, or a model that cannot run the images.
            LayerNotFoundError: a layer the model does not have.
        """
        layers = sorted(set(layers) - {INPUT, OUTPUT})
        heads = [layer for layer in layers if layer.endswith(HEADS)]
        if heads:
            raise InvalidArgumentError(f"gradients are taken at layer outputs, not attention heads: {heads}")
        modules = {layer: find_module(self.model, layer) for layer in layers}
        x = self.model_input(images)
        kinds = self._kinds(set(layers) | ({through} if through else set()), (x.shape[-2], x.shape[-1]))
        values: dict[str, torch.Tensor] = {}
        grads: dict[str, torch.Tensor] = {}

        def keep(layer: str, tensor: torch.Tensor) -> None:
            if layer not in modules:  # ``through``: used as the graph holds it
                return
            values[layer] = tensor.detach().clone()  # before any later in-place op
            if tensor.requires_grad:
                tensor.register_hook(lambda grad: grads.__setitem__(layer, grad.detach()))

        watched = dict(modules)
        if through is not None:
            watched.setdefault(through, find_module(self.model, through))
        with guarded(self.model), torch.enable_grad(), captured(watched, keep) as outputs:
            x = x.detach().requires_grad_(True)
            output = first_tensor(self._run(self.model, x))
            if output is None:
                raise InvalidArgumentError(
                    f"the model ({self.name}) returned no tensor, so it has no output to attribute"
                )
            if through is None:
                score(output.float()).sum().backward()
            else:
                seen_later = layouts_module.canonical(through, outputs[through].float(), kinds.get(through))
                score(seen_later[through]).sum().backward()
        missing = [layer for layer in layers if layer not in grads]
        if missing:
            raise InvalidArgumentError(
                f"layer(s) {missing} did not run, or the output does not depend on them, so they "
                "have no gradient; pick layers on the path to the output (featviz.layers(model))"
            )

        def seen(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {
                layer: layouts_module.canonical(layer, tensors[layer].float(), kinds.get(layer))[layer]
                for layer in layers
            }

        return seen(values), seen(grads), output.detach().float()

    def output_edited(
        self, images: torch.Tensor, layer: str, edit: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """The model's output for ``images`` in [0, 1] when ``layer``'s activation is replaced by
        ``edit(activation)``, without gradients: what a deletion test of a direction at a layer
        needs. ``edit`` sees and returns the activation as objectives see it (feature maps and
        patch-token grids ``(B, C, H, W)``, vectors ``(B, C)``); channels-last maps and tokens
        are mapped back to the layer's own layout (prefix tokens left as they are). Only the
        layer's first call in the forward pass is edited, the call every recording reads.

        Raises:
            InvalidArgumentError: a layer whose activation cannot be edited (see
                :meth:`check_editable`), an edit that changes the shape, or a model that cannot
                run the images.
            LayerNotFoundError: a layer the model does not have.
        """
        module = find_module(self.model, layer)
        x = self.model_input(images)
        kind = self.check_editable(layer, (x.shape[-2], x.shape[-1]))
        calls: list[int] = []

        def replace(module: nn.Module, inputs: object, output: object) -> torch.Tensor | None:
            calls.append(1)
            if len(calls) > 1:
                return None
            if not isinstance(output, torch.Tensor):
                raise InvalidArgumentError(
                    f"layer {layer!r} returns {type(output).__name__}; editing needs a layer that returns "
                    "one tensor"
                )
            seen = layouts_module.canonical(layer, output.float(), kind)[layer]
            edited = edit(seen)
            if edited.shape != seen.shape:
                raise InvalidArgumentError(
                    f"the edit of layer {layer!r} changed its shape from {tuple(seen.shape)} to "
                    f"{tuple(edited.shape)}"
                )
            if kind is not None and kind.kind == "nhwc":
                return edited.permute(0, 2, 3, 1).to(output.dtype)
            if kind is not None and kind.kind == "tokens":
                tokens = output.clone()
                tokens[:, kind.prefix :] = edited.flatten(2).transpose(1, 2).to(output.dtype)
                return tokens
            return edited.to(output.dtype)

        with guarded(self.model), torch.no_grad(), scoped_hooks([module], hook=replace):
            output = first_tensor(self._run(self.model, x))
        if output is None:
            raise InvalidArgumentError(f"the model ({self.name}) returned no tensor")
        return output.float()

    def check_editable(self, layer: str, size: tuple[int, int] | None = None) -> layouts_module.Layout | None:
        """Check before any work that :meth:`output_edited` can edit ``layer``: a feature map
        (channels-first or -last), tokens on a patch grid, or a vector; returns its layout.

        Raises:
            InvalidArgumentError: tokens without a patch grid, or attention maps.
            LayoutError: a layout featviz cannot decide (it says how to give it).
            LayerNotFoundError: a layer the model does not have.
        """
        find_module(self.model, layer)
        kind = self._kinds({layer}, size or self.default_size).get(layer)
        if kind is not None and not (
            kind.kind in ("nchw", "nhwc", "vector") or (kind.kind == "tokens" and kind.patch_grid is not None)
        ):
            raise InvalidArgumentError(
                f"layer {layer!r} holds a {kind.kind} activation without a spatial grid; editing (and "
                "concepts) need (C, H, W) feature maps, tokens on a patch grid, or a vector per image"
            )
        return kind

    def layers(self, size: int | tuple[int, int] | None = None) -> LayerTable:
        """Every addressable layer, in execution order (one forward pass of a grey image).

        Raises:
            LayoutError: ``layouts=`` names a layer that does not run.
            InvalidArgumentError: the model cannot run on images of this size.
        """
        height, width = normalize_size(size) if size is not None else self.default_size
        if (height, width) not in self._tables:
            self._tables[(height, width)] = self._table((height, width), None)
        return self._tables[(height, width)]

    def _table(self, size: tuple[int, int], until: set[str] | None) -> LayerTable:
        """The layer table from one grey-image pass, stopped after ``until`` when given."""
        x = self.normalize(torch.full((1, self.channels, *size), 0.5, device=self.device))
        traced = self._run(lambda normalized: trace(self.model, normalized, until), x)
        outputs = {layer: (module, output) for layer, (module, _, output) in traced.items()}
        inputs = {layer: source for layer, (_, source, _) in traced.items()}
        decided = layouts_module.decide(self.model, outputs, inputs, self.given_layouts, x)
        return LayerTable(
            LayerInfo(
                layer,
                type(module).__name__,
                decided[layer].channels,
                decided[layer].grid,
                decided[layer].kind,
                decided[layer].prefix,
            )
            for layer, (module, _) in outputs.items()
        )

    def failure(self, error: Exception, shape: tuple[int, ...]) -> InvalidArgumentError:
        """A featviz error for a model that could not run on an image batch of ``shape``."""
        conv = _first_conv(self.model)
        hint = ""
        if conv is not None and conv.in_channels != shape[1]:
            hint = (
                f" Its first convolution takes {conv.in_channels} input channel(s) but the images "
                f"have {shape[1]} after preprocessing; a preprocess= function must return "
                f"{conv.in_channels}-channel images (or leave it out: featviz renders as many "
                "channels as the first convolution takes)."
            )
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        return InvalidArgumentError(
            f"the model ({self.name}) failed on a batch of images of shape {tuple(shape)} after "
            f"preprocessing ({reason}).{hint} featviz feeds (B, C, H, W) images in [0, 1] through "
            "the preprocessing; check preprocess= and size=."
        )


def prepare(
    model: nn.Module | str | Prepared,
    *,
    preprocess: object = None,
    device: torch.device | str | None = None,
    layouts: Mapping[str, str] | None = None,
) -> Prepared:
    """Prepare a model (an ``nn.Module`` or a zoo name) for featviz.

    Example:
        >>> prepared = featviz.prepare("efficientnet_lite0")     # on the GPU if there is one
        >>> prepared.default_size
        (224, 224)

    Args:
        model: an ``nn.Module`` (never modified; copied when it must move to another device), a
            zoo name such as ``"efficientnet_lite0"``, or a :class:`Prepared` model.
        preprocess: the input normalization (see :mod:`featviz.model.preprocess`); default: from the
            model's metadata.
        device: where to run. Default: an ``nn.Module``'s own device; for a zoo name the best
            device available (:func:`best_device`).
        layouts: the layout of layers featviz cannot decide by itself, e.g.
            ``{"layers.0": "nhwc"}`` (see :mod:`featviz.model.layouts`).

    Returns:
        The :class:`Prepared` model.

    Raises:
        DeviceError: a device this machine does not have.
        ModelLoadError: a zoo name that cannot be loaded.
        InvalidArgumentError: a model of another kind, or an unusable ``preprocess``.
    """
    wanted = resolve_device(device)
    if isinstance(model, Prepared):
        if preprocess is None and not layouts and (wanted is None or wanted == model.device):
            return model
        layouts = {**model.given_layouts, **(layouts or {})}
        name, module = model.name, model.model
    elif isinstance(model, str):
        name, module = model, load_model(model, wanted or best_device())
    else:
        name, module = type(model).__name__, resolve_model(model)
    target = wanted or model_device(module)
    if model_device(module) != target:
        module = copy.deepcopy(module).to(target)
    pre = _fit_channels(resolve_preprocess(module, preprocess), module, preprocess is None)
    given = layouts_module.check_layouts(layouts)
    for layer in given:
        find_module(module, layer)  # a name that is no layer: close matches suggested
    return Prepared(module, name, pre, target, given)


def _fit_channels(pre: Preprocess, module: nn.Module, defaulted: bool) -> Preprocess:
    """The preprocessing for a model whose first convolution takes other than 3 channels: a
    default ImageNet normalization does not apply (no normalization instead, documented); given
    mean/std must have one value or one per channel."""
    channels = _input_channels(module, pre)
    if pre.fn is not None:
        return pre
    if channels != 3 and defaulted and pre.source.startswith("default"):
        return Preprocess(
            (0.0,),
            (1.0,),
            pre.input_size,
            f"none: a {channels}-channel model takes [0, 1] images (pass preprocess=)",
        )
    for what, values in (("mean", pre.mean), ("std", pre.std)):
        if len(values) not in (1, channels):
            raise InvalidArgumentError(
                f"the model takes {channels}-channel images but preprocess {what} has {len(values)} values; "
                f"give one value or {channels}"
            )
    return pre


def layers(
    model: nn.Module | str | Prepared,
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
        model: an ``nn.Module``, a zoo name or a prepared model.
        size: input size (default: the model's input size from its preprocessing, else 224).
        device: where to run (default as in :func:`prepare`).

    Returns:
        A :class:`LayerTable` (a list of :class:`LayerInfo`) that prints as a table.
    """
    return prepare(model, device=device).layers(size)


def _first_conv(module: nn.Module) -> nn.Conv2d | nn.Conv1d | None:
    """The model's first convolution (in registration order), which fixes its input channels."""
    return next((m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Conv1d))), None)


def _input_channels(module: nn.Module, pre: Preprocess) -> int:
    """Channels featviz renders for ``module`` (see :attr:`Prepared.channels`)."""
    if pre.fn is not None:
        return 3
    conv = _first_conv(module)
    return int(conv.in_channels) if conv is not None else 3
