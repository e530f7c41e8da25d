"""Objectives: what a render maximizes.

An :class:`Objective` maps the recorded activations to one score **to maximize** per image. Objectives
add, subtract and scale like numbers, multiply with each other, and print a readable description::

    >>> from featviz import objectives as obj
    >>> o = obj.channel("layer4", 12) - 0.01 * obj.total_variation()
    >>> o
    channel(layer4:12) - 0.01 * total_variation(input)
    >>> sorted(o.layers)
    ['input', 'layer4']

Activation shapes: ``(B, C, H, W)`` feature maps, ``(B, C)`` vectors (e.g. logits), and
``(B, T, C)`` token sequences (channels last, as in vision transformers). ``acts["input"]`` is the
image batch in [0, 1] before transforms. Penalties (:func:`total_variation`, :func:`L1`,
:func:`L2`, :func:`blur_input_each_step`) return the amount of the unwanted property, so subtract
them; :func:`diversity` and :func:`alignment` return how diverse / aligned the batch is, so add them.

The ``batch=`` argument of the unit objectives restricts them to one image of the batch; image *i*
of ``from_targets([...])`` pursues target *i* only, vectorized over the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from featviz.errors import ChannelOutOfRangeError, InvalidArgumentError
from featviz.model.layouts import PREFIX
from featviz.targets import HEADS, INPUT, OUTPUT, Target, parse_target

Acts = Mapping[str, torch.Tensor]
Shapes = Mapping[str, tuple[int, ...]]

# Description precedence: atoms bind tightest, then products, then sums.
_ATOM, _PRODUCT, _SUM = 3, 2, 1


class Objective:
    """A score to maximize, one value per image, computed from recorded activations.

    Args:
        fn: maps ``{layer: activation}`` to a tensor of shape ``(B,)``.
        layers: the layers ``fn`` reads (``"input"`` and ``"output"`` included when used).
        description: readable text, e.g. ``"channel(layer4:12)"``.
        validate: optional check of the layer output shapes (without batch); raises a featviz
            error when the objective does not fit them (e.g. channel out of range).
    """

    def __init__(
        self,
        fn: Callable[[Acts], torch.Tensor],
        layers: frozenset[str] | set[str],
        description: str,
        validate: Callable[[Shapes], None] | None = None,
        *,
        _precedence: int = _ATOM,
    ) -> None:
        self.fn = fn
        self.layers = frozenset(layers)
        self.description = description
        self._validate = validate
        self._precedence = _precedence

    def __call__(self, acts: Acts) -> torch.Tensor:
        """Score each image: a tensor of shape ``(B,)``."""
        return self.fn(acts)

    def validate(self, shapes: Shapes) -> None:
        """Check the objective against layer output shapes (batch dimension dropped)."""
        if self._validate is not None:
            self._validate(shapes)

    def __repr__(self) -> str:
        return self.description

    def _wrapped(self, precedence: int) -> str:
        return f"({self.description})" if self._precedence < precedence else self.description

    # -- algebra ---------------------------------------------------------------------------
    def _combine(self, other: Objective, sign: float) -> Objective:
        op = "+" if sign > 0 else "-"
        right = other._wrapped(_PRODUCT if sign < 0 else _SUM)
        return Objective(
            lambda acts: self(acts) + sign * other(acts),
            self.layers | other.layers,
            f"{self._wrapped(_SUM)} {op} {right}",
            _validate_both(self, other),
            _precedence=_SUM,
        )

    def __add__(self, other: Objective | float) -> Objective:
        if isinstance(other, (int, float)):
            if other == 0:
                return self
            return self._combine(constant(float(abs(other))), 1.0 if other > 0 else -1.0)
        if not isinstance(other, Objective):
            return NotImplemented
        return self._combine(other, 1.0)

    def __radd__(self, other: float) -> Objective:
        # sum([...]) starts from 0.
        if isinstance(other, (int, float)) and other == 0:
            return self
        return self.__add__(other)

    def __sub__(self, other: Objective | float) -> Objective:
        if isinstance(other, (int, float)):
            return self.__add__(-other)
        if not isinstance(other, Objective):
            return NotImplemented
        return self._combine(other, -1.0)

    def __rsub__(self, other: float) -> Objective:
        return (-self).__add__(other)

    def __neg__(self) -> Objective:
        return self * -1.0

    def __mul__(self, other: Objective | float) -> Objective:
        if isinstance(other, (int, float)):
            weight = float(other)
            return Objective(
                lambda acts: weight * self(acts),
                self.layers,
                f"{_number(weight)} * {self._wrapped(_ATOM)}",
                self.validate,
                _precedence=_PRODUCT,
            )
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(
            lambda acts: self(acts) * other(acts),
            self.layers | other.layers,
            f"{self._wrapped(_ATOM)} * {other._wrapped(_ATOM)}",
            _validate_both(self, other),
            _precedence=_PRODUCT,
        )

    def __rmul__(self, other: float) -> Objective:
        return self.__mul__(other)

    def __truediv__(self, other: float) -> Objective:
        if not isinstance(other, (int, float)) or other == 0:
            raise InvalidArgumentError(f"an objective can be divided by a non-zero number, got {other!r}")
        return self * (1.0 / other)


def _validate_both(first: Objective, second: Objective) -> Callable[[Shapes], None]:
    def validate(shapes: Shapes) -> None:
        first.validate(shapes)
        second.validate(shapes)

    return validate


def _number(value: float) -> str:
    return f"{value:g}"


def as_objective(value: Objective | str | Target) -> Objective:
    """Turn a target string (``"layer4:12"``, ``"output:207"``, ...) or Target into an Objective.

    ``"L"`` becomes :func:`deepdream`, ``"L:c"`` :func:`channel`, ``"L:c@..."`` :func:`neuron`.

    Raises:
        TargetSyntaxError: the string is not a valid target.
        InvalidArgumentError: the value is neither an Objective nor a target.
    """
    if isinstance(value, Objective):
        return value
    if not isinstance(value, (str, Target)):
        raise InvalidArgumentError(
            f"expected an Objective or a target string such as 'layer4:12', got "
            f"{type(value).__name__} {value!r}"
        )
    return unit(parse_target(value))


def unit(target: Target, batch: int | None = None) -> Objective:
    """The objective of a parsed target: :func:`deepdream`, :func:`channel` or :func:`neuron`.

    With ``batch`` set only that image of the batch is scored.
    """
    _check_batch(batch)
    units = _Units(target.layer, target.kind, [target], None)
    name = {"layer": "deepdream", "channel": "channel", "neuron": "neuron", "cls": "neuron", "head": "head"}[
        target.kind
    ]
    return Objective(
        lambda acts: _only_image(units.values(acts[units.key]), batch),
        {recorded(target)},
        f"{name}({target}{_batch_suffix(batch)})",
        units.check,
    )


# -- helpers shared by the unit objectives -----------------------------------------------------


def recorded(target: Target) -> str:
    """What must be recorded for ``target``: its layer, or an attention module's heads."""
    return target.layer + HEADS if target.kind == "head" else target.layer


def _channel_axis(shape: tuple[int, ...]) -> int:
    """Channel axis of an activation shape without batch: first, except for tokens (last)."""
    return len(shape) - 1 if len(shape) == 2 else 0


def _check_channel(layer: str, channel: int, shape: tuple[int, ...]) -> None:
    if len(shape) == 0:
        raise ChannelOutOfRangeError(f"layer {layer!r} outputs one value per image; it has no channels")
    count = shape[_channel_axis(shape)]
    if not 0 <= channel < count:
        raise ChannelOutOfRangeError(
            f"channel {channel} is out of range for layer {layer!r}, which has {count} channels "
            f"(valid: 0..{count - 1}; output shape {tuple(shape)})"
        )


def _position(layer: str, position: tuple[int, int] | str, shape: tuple[int, ...]) -> tuple[int, int]:
    """A neuron's (row, col) on a ``(C, H, W)`` activation shape: a pure function of the shape."""
    if len(shape) != 3:
        raise InvalidArgumentError(
            f"a neuron target needs a (C, H, W) feature map, but layer {layer!r} outputs shape "
            f"{tuple(shape)}; use a channel target ('{layer}:C') instead"
        )
    height, width = shape[1], shape[2]
    if position == "center":
        return height // 2, width // 2
    if not isinstance(position, tuple):
        raise InvalidArgumentError(f"a neuron position is 'center' or (row, col), got {position!r}")
    row, col = position
    if not (0 <= row < height and 0 <= col < width):
        raise ChannelOutOfRangeError(
            f"position ({row}, {col}) is outside layer {layer!r}, whose feature map is "
            f"{height}x{width} (rows 0..{height - 1}, columns 0..{width - 1})"
        )
    return row, col


def _only_image(values: torch.Tensor, batch: int | None) -> torch.Tensor:
    """Keep the score of image ``batch`` only (all images when ``batch`` is None)."""
    if batch is None:
        return values
    mask = torch.zeros_like(values)
    mask[batch] = 1.0
    return values * mask


def _batch_suffix(batch: int | None) -> str:
    return "" if batch is None else f", batch={batch}"


def _check_batch(batch: int | None) -> None:
    if batch is not None and (not isinstance(batch, int) or batch < 0):
        raise InvalidArgumentError(f"batch must be a non-negative image index or None, got {batch!r}")


# -- the one scorer per target kind ------------------------------------------------------------
# Each takes the activation and the selection: which images (a slice or an index tensor), their
# channels, rows and columns (ints, or tensors aligned with the images).

Index = Any


def _layer_score(act: torch.Tensor, images: Index, channels: Index, rows: Index, cols: Index) -> torch.Tensor:
    """DeepDream: mean squared activation of the whole layer."""
    return act[images].pow(2).flatten(1).mean(1)


def _channel_score(
    act: torch.Tensor, images: Index, channels: Index, rows: Index, cols: Index
) -> torch.Tensor:
    """Mean of one channel over all positions (tokens: channels last)."""
    if act.dim() == 2:
        return act[images, channels]
    if act.dim() == 3:
        return act[images, :, channels].mean(1)
    return act[images, channels].flatten(1).mean(1)


def _neuron_score(
    act: torch.Tensor, images: Index, channels: Index, rows: Index, cols: Index
) -> torch.Tensor:
    """One channel at one position (a vector layer's neuron is its channel)."""
    if act.dim() == 2:
        return act[images, channels]
    return act[images, channels, rows, cols]


def _cls_score(act: torch.Tensor, images: Index, channels: Index, rows: Index, cols: Index) -> torch.Tensor:
    """One channel at the class token: ``act`` holds a layer's prefix tokens ``(B, prefix, C)``."""
    return act[images, 0, channels]


def _head_score(act: torch.Tensor, images: Index, channels: Index, rows: Index, cols: Index) -> torch.Tensor:
    """An attention head's output norm, averaged over the patch tokens: ``act`` holds the heads'
    outputs ``(B, heads, T, head_dim)`` before the output projection, ``channels`` the head.

    The norm of what a head writes measures how much it contributes, where its attention
    weights alone can mislead (Kobayashi, Kuribayashi, Yokoi & Inui 2020, "Attention is not
    only a weight: analyzing transformers with vector norms").
    """
    return act[images, channels].norm(dim=-1).mean(-1)


_SCORERS = {
    "layer": _layer_score,
    "channel": _channel_score,
    "neuron": _neuron_score,
    "cls": _cls_score,
    "head": _head_score,
}


class _Units:
    """Targets of one kind on one layer, scored together.

    With ``images`` None every image of the batch pursues ``targets[0]``; otherwise image
    ``images[i]`` pursues ``targets[i]`` (one gather over the batch, not one objective per image).
    Positions and range checks are a function of the activation shape, worked out on first use
    of each shape and device.
    """

    def __init__(self, layer: str, kind: str, targets: list[Target], images: list[int] | None) -> None:
        self.layer, self.kind, self.targets, self.images = layer, kind, targets, images
        self.score = _SCORERS[kind]
        # What the scorer reads: the layer, for the class token the layer's prefix tokens, for a
        # head the attention module's per-head outputs.
        self.key = {"cls": layer + PREFIX, "head": layer + HEADS}.get(kind, layer)
        self._selections: dict[tuple[tuple[int, ...], torch.device], tuple[Index, ...]] = {}

    def check(self, shapes: Shapes) -> None:
        """Raise a featviz error when a target does not fit the layer's shape (batch dropped)."""
        if self.kind == "cls" and (self.key not in shapes or shapes[self.key][0] < 1):
            raise InvalidArgumentError(
                f"'@cls' needs a transformer layer whose tokens start with a class token, but layer "
                f"{self.layer!r} outputs {tuple(shapes[self.layer])} with no prefix tokens that featviz "
                "knows of (see the layout column of featviz.layers(model)); target a channel "
                f"('{self.layer}:C') or a patch token ('{self.layer}:C@ROW,COL') instead"
            )
        shape = tuple(shapes[self.key])
        if self.kind == "layer":
            return
        if self.kind == "head":
            for target in self.targets:
                if not 0 <= (target.head or 0) < shape[0]:
                    raise ChannelOutOfRangeError(
                        f"head {target.head} is out of range for attention module {self.layer!r}, which has "
                        f"{shape[0]} heads (valid: 0..{shape[0] - 1})"
                    )
            return
        for target in self.targets:
            _check_channel(self.layer, target.channel or 0, shape)
            if self.kind == "neuron" and len(shape) != 1:
                _position(self.layer, target.position or "center", shape)

    def _selection(self, shape: tuple[int, ...], device: torch.device) -> tuple[Index, ...]:
        key = (shape, device)
        if key not in self._selections:
            self.check({self.layer: shape, self.key: shape})
            channels = [(t.head if t.kind == "head" else t.channel) or 0 for t in self.targets]
            places = [
                _position(self.layer, t.position or "center", shape)
                if self.kind == "neuron" and len(shape) == 3
                else (0, 0)
                for t in self.targets
            ]
            if self.images is None:
                self._selections[key] = (slice(None), channels[0], *places[0])
            else:
                columns = [self.images, channels, [p[0] for p in places], [p[1] for p in places]]
                self._selections[key] = tuple(torch.tensor(c, device=device) for c in columns)
        return self._selections[key]

    def values(self, act: torch.Tensor) -> torch.Tensor:
        """The score of each selected image: ``(B,)`` or ``(len(images),)``."""
        return self.score(act, *self._selection(tuple(act.shape[1:]), act.device))

    def placed(self, act: torch.Tensor) -> torch.Tensor:
        """``(B,)``: each selected image's score at its row of the batch, zero elsewhere."""
        selection = self._selection(tuple(act.shape[1:]), act.device)
        values = self.score(act, *selection)
        out = torch.zeros(act.shape[0], device=act.device, dtype=values.dtype)
        return out.index_put((selection[0],), values)


# -- unit objectives ---------------------------------------------------------------------------


def channel(layer: str, channel: int, batch: int | None = None) -> Objective:
    """Mean activation of one channel over all spatial positions (or tokens).

    Example: ``channel("layer4", 12)`` — the target ``"layer4:12"``.
    (Olah, Mordvintsev & Schubert 2017, "Feature Visualization", Distill.)
    """
    return unit(Target(layer, channel), batch)


def neuron(
    layer: str,
    channel: int,
    position: tuple[int, int] | str = "center",
    batch: int | None = None,
) -> Objective:
    """Activation of one channel at one spatial position (default: the center of the map).

    For a ``(B, C)`` layer a neuron is the channel itself.
    Example: ``neuron("layer4", 12, (3, 5))`` — the target ``"layer4:12@3,5"``.
    (Olah et al. 2017, Distill.)
    """
    return unit(Target(layer, channel, position), batch)


def deepdream(layer: str, batch: int | None = None) -> Objective:
    """Mean squared activation of a whole layer — DeepDream (Mordvintsev et al. 2015).

    The target ``"layer4"`` (no channel) means this objective.
    """
    return unit(Target(layer), batch)


def class_logit(label: int, batch: int | None = None) -> Objective:
    """The model's output for one class — the target ``"output:LABEL"``.

    Maximizing the logit (not the softmax probability) follows Simonyan et al. 2014.
    """
    objective = channel(OUTPUT, label, batch)
    objective.description = f"class_logit({label}{_batch_suffix(batch)})"
    return objective


def direction(
    layer: str,
    vector: torch.Tensor | Sequence[float],
    cossim_pow: float = 0.0,
    batch: int | None = None,
) -> Objective:
    """Activation along a direction in channel space, averaged over positions.

    With ``cossim_pow > 0`` the dot product is multiplied by the cosine similarity (floored at
    0.1) to that power, rewarding activations that point *along* the direction rather than just
    large ones (Olah et al. 2018, "The Building Blocks of Interpretability"; Lucid's
    ``direction(cossim_pow=...)``).
    """
    _check_batch(batch)
    vec = torch.as_tensor(vector, dtype=torch.float32).flatten()

    def fn(acts: Acts) -> torch.Tensor:
        return _only_image(_along(acts[layer], vec[None], cossim_pow), batch)

    power = f", cossim_pow={_number(cossim_pow)}" if cossim_pow else ""
    description = f"direction({layer}{power}{_batch_suffix(batch)})"
    return Objective(fn, {layer}, description, _width_check(layer, vec.numel(), "direction"))


def directions(layer: str, vectors: torch.Tensor, cossim_pow: float = 0.0) -> Objective:
    """Image *i* pursues ``vectors[i]``: :func:`direction` for a whole batch at once.

    This is how an activation grid or a set of neuron groups renders in one batch (Olah et al.
    2018): render with ``batch=len(vectors)``.

    Args:
        layer: the layer the vectors live in.
        vectors: ``(B, C)``, one direction per image.
        cossim_pow: as in :func:`direction`.
    """
    vecs = torch.as_tensor(vectors, dtype=torch.float32)
    if vecs.dim() != 2 or len(vecs) == 0:
        raise InvalidArgumentError(
            f"directions needs a (images, channels) tensor, got shape {tuple(vecs.shape)}"
        )

    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer]
        if act.shape[0] != len(vecs):
            raise InvalidArgumentError(
                f"{len(vecs)} directions for a batch of {act.shape[0]} images; render with batch={len(vecs)}"
            )
        return _along(act, vecs, cossim_pow)

    power = f", cossim_pow={_number(cossim_pow)}" if cossim_pow else ""
    description = f"directions({layer}, {len(vecs)} vectors{power})"
    return Objective(fn, {layer}, description, _width_check(layer, vecs.shape[1], "the directions"))


def _width_check(layer: str, width: int, what: str) -> Callable[[Shapes], None]:
    """A validate function: ``layer`` must have ``width`` channels."""

    def validate(shapes: Shapes) -> None:
        shape = shapes[layer]
        count = shape[_channel_axis(shape)] if shape else 0
        if count != width:
            raise InvalidArgumentError(f"{what} has {width} entries but layer {layer!r} has {count} channels")

    return validate


def _along(act: torch.Tensor, vectors: torch.Tensor, cossim_pow: float) -> torch.Tensor:
    """Each image's activation along its direction (``vectors``: ``(B, C)``, or ``(1, C)`` for
    all), averaged over positions; times the cosine to the power ``cossim_pow`` when given."""
    # Bring channels last, positions in the middle: (B, P, C).
    if act.dim() == 4:
        act = act.flatten(2).transpose(1, 2)
    elif act.dim() == 2:
        act = act[:, None, :]
    v = vectors.to(act.device, act.dtype).expand(act.shape[0], -1)
    dot = torch.einsum("bpc,bc->bp", act, v)
    if cossim_pow:
        cos = dot / (act.norm(dim=-1) * v.norm(dim=-1, keepdim=True) + 1e-4)
        dot = dot * cos.clamp(min=0.1).pow(cossim_pow)
    return dot.mean(1)


def channel_interpolate(layer1: str, channel1: int, layer2: str, channel2: int) -> Objective:
    """Interpolate across the batch from one channel to another.

    Image 0 maximizes ``layer1:channel1``, the last image ``layer2:channel2``, and images in
    between a linear mix (Olah et al. 2017, Distill, "interaction between neurons").
    """
    first, second = channel(layer1, channel1), channel(layer2, channel2)

    def fn(acts: Acts) -> torch.Tensor:
        n = acts[layer1].shape[0]
        weight = torch.linspace(0.0, 1.0, n, device=acts[layer1].device) if n > 1 else None
        if weight is None:
            return first(acts)
        return (1 - weight) * first(acts) + weight * second(acts)

    return Objective(
        fn,
        {layer1, layer2},
        f"channel_interpolate({layer1}:{channel1}, {layer2}:{channel2})",
        _validate_both(first, second),
    )


def alignment(layer: str, decay_ratio: float = 2.0) -> Objective:
    """How similar neighbouring images of the batch are at a layer (higher = more aligned).

    Pairs ``(i, i+d)`` for ``d = 1..4`` contribute ``-mean((a_i - a_{i+d})^2) / decay_ratio**d``,
    split evenly between the two images; add it to :func:`channel_interpolate` so that the
    interpolation frames line up (Olah et al. 2017, Distill).
    """

    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer].flatten(1)
        scores = torch.zeros(act.shape[0], device=act.device, dtype=act.dtype)
        for d in range(1, 5):
            if d >= act.shape[0]:
                break
            dist = (act[:-d] - act[d:]).pow(2).mean(1) / decay_ratio**d
            scores = scores - F.pad(dist, (0, d)) / 2 - F.pad(dist, (d, 0)) / 2
        return scores

    return Objective(fn, {layer}, f"alignment({layer}, decay_ratio={_number(decay_ratio)})")


def diversity(layer: str) -> Objective:
    """How different the images of the batch are in style at a layer (higher = more diverse).

    Each image scores minus its :func:`group_similarity` to the other images (Olah et al. 2017,
    Distill, "Diversity"); add it with a weight such as 100. ``render(..., batch=K)`` of one
    target already adds such a term at the target's layer (``diversity=``); use this one to
    compare images at another layer.
    """

    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer]
        n = act.shape[0]
        if n < 2:
            return torch.zeros(n, device=act.device, dtype=act.dtype)
        return -group_similarity(act, n)

    return Objective(fn, {layer}, f"diversity({layer})")


# -- image penalties -----------------------------------------------------------------------------


def total_variation(layer: str = INPUT) -> Objective:
    """Mean absolute difference between neighbouring pixels (or positions); subtract it.

    The mean (not Lucid's sum) keeps useful weights independent of the image size
    (Mahendran & Vedaldi 2015).
    """

    def fn(acts: Acts) -> torch.Tensor:
        x = acts[layer]
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
        return dx + dy

    return Objective(fn, {layer}, f"total_variation({layer})")


def L1(layer: str = INPUT, constant: float = 0.0) -> Objective:  # noqa: N802 - the usual name
    """Mean absolute deviation from ``constant``; subtract it to keep values small or near it."""
    return Objective(
        lambda acts: (acts[layer] - constant).abs().flatten(1).mean(1),
        {layer},
        f"L1({layer}, constant={_number(constant)})",
    )


def L2(layer: str = INPUT, constant: float = 0.0) -> Objective:  # noqa: N802 - the usual name
    """Root-mean-square deviation from ``constant``; subtract it (e.g. ``constant=0.5`` on the image)."""
    return Objective(
        lambda acts: ((acts[layer] - constant).pow(2).flatten(1).mean(1) + 1e-12).sqrt(),
        {layer},
        f"L2({layer}, constant={_number(constant)})",
    )


def blur_input_each_step() -> Objective:
    """A penalty whose gradient moves each pixel toward its 3x3 neighbourhood mean; subtract it.

    Subtracting it with weight 1 and lr ``a`` blurs the image by a fraction ``a`` each step, which
    suppresses high frequencies (Lucid's ``blur_input_each_step``; Nguyen et al. 2015). The value is
    ``0.5 * sum((x - blur(x).detach())**2)`` per image, a sum so that the pull per pixel does not
    depend on the image size.
    """

    def fn(acts: Acts) -> torch.Tensor:
        x = acts[INPUT]
        blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel_size=3, stride=1).detach()
        return 0.5 * (x - blurred).pow(2).flatten(1).sum(1)

    return Objective(fn, {INPUT}, "blur_input_each_step()")


def constant(value: float) -> Objective:
    """A fixed score for every image (mostly useful in algebra: ``objective + 1``)."""
    return Objective(
        lambda acts: torch.full(
            (acts[INPUT].shape[0],), value, device=acts[INPUT].device, dtype=acts[INPUT].dtype
        ),
        {INPUT},
        _number(value),
    )


# -- one target per image, vectorized ----------------------------------------------------------


def from_targets(targets: Sequence[str | Target]) -> Objective:
    """One objective in which image *i* pursues ``targets[i]`` only.

    Targets of one kind on the same layer share one gather over the batch, so a whole layer of
    channels costs one indexing operation per step, not one objective per image.

    Example:
        >>> from_targets(["blocks.4:0", "blocks.4:1", "output:207"])
        targets(blocks.4:0, blocks.4:1, output:207)

    Raises:
        TargetSyntaxError: a target string is malformed.
        InvalidArgumentError: the list is empty.
    """
    parsed = [parse_target(t) for t in targets]
    if not parsed:
        raise InvalidArgumentError("expected at least one target, got an empty list")
    groups: dict[tuple[str, str], list[int]] = {}
    for index, target in enumerate(parsed):
        groups.setdefault((target.layer, target.kind), []).append(index)
    parts = [
        _Units(layer, kind, [parsed[i] for i in images], images) for (layer, kind), images in groups.items()
    ]
    n_images = len(parsed)

    def placed(part: _Units, acts: Acts) -> torch.Tensor:
        act = acts[part.key]
        if act.shape[0] != n_images:
            raise InvalidArgumentError(
                f"{n_images} targets need a batch of {n_images} images, but layer "
                f"{part.layer!r} saw a batch of {act.shape[0]}"
            )
        return part.placed(act)

    def fn(acts: Acts) -> torch.Tensor:
        scores = placed(parts[0], acts)
        for part in parts[1:]:
            scores = scores + placed(part, acts)
        return scores

    def validate(shapes: Shapes) -> None:
        for part in parts:
            part.check(shapes)

    text = ", ".join(str(t) for t in parsed)
    return Objective(fn, {recorded(t) for t in parsed}, f"targets({text})", validate)


__all__ = [
    "Objective",
    "as_objective",
    "unit",
    "from_targets",
    "channel",
    "neuron",
    "deepdream",
    "class_logit",
    "direction",
    "channel_interpolate",
    "alignment",
    "diversity",
    "total_variation",
    "L1",
    "L2",
    "blur_input_each_step",
    "constant",
]


def group_similarity(act: torch.Tensor, group: int) -> torch.Tensor:
    """For each image, its mean similarity to the other images of its group (``group``
    consecutive images), ``(B,)``: the cosine between their channel Gram matrices for spatial
    activations ``(B, C, H, W)`` and tokens ``(B, T, C)`` — what a texture shares, wherever it
    sits (Lucid's diversity objective) — or between the activation vectors otherwise.

    Raises:
        InvalidArgumentError: the batch is not made of whole groups.
    """
    batch = act.shape[0]
    if group < 2:
        raise InvalidArgumentError(f"group_similarity compares groups of at least 2 images, got {group}")
    if batch % group:
        raise InvalidArgumentError(f"a batch of {batch} images does not split into groups of {group}")
    act = act.float()
    if act.dim() in (3, 4):
        flat = act.flatten(2) if act.dim() == 4 else act.transpose(1, 2)  # (B, C, positions)
        features = (flat @ flat.transpose(1, 2) / flat.shape[-1]).flatten(1)
    else:
        features = act.flatten(1)
    features = F.normalize(features, dim=1).view(batch // group, group, -1)
    sims = features @ features.transpose(1, 2)  # (groups, K, K)
    others = (sims.sum(-1) - sims.diagonal(dim1=1, dim2=2)) / (group - 1)
    return others.flatten()
