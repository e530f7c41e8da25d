"""``featviz.explain``: what each layer of a model sees in a photo, where, and which units decide.

``featviz.explain(model, photo)`` puts the "building blocks" of Olah et al. 2018 (Distill, "The
Building Blocks of Interpretability") together for one photo, at a few layers spread over the
model's depth:

1. **activation map and semantic dictionary** — how strongly each position of the layer's grid
   fires (the norm of its activation vector), and the layer's top channels on the photo (by mean
   activation) with their renders and their maps;
2. **activation grid** — the layer's grid pooled to at most ``grid × grid`` cells; each cell's
   activation vector rendered as a direction (``cossim_pow=1``), all cells in one batch;
3. **neuron groups** — a non-negative matrix factorization of the layer's (positive)
   activations over positions into ``groups`` factors: each a spatial map over the photo and a
   channel mix, rendered as a direction; the share of the activations' variance they explain;
4. **attribution** — for the top class (or ``target``): gradient × activation summed over
   channels (signed) and Grad-CAM (Selvaraju et al. 2017) at the layer, and the channels whose
   gradient × activation adds most to the class, with their renders;
5. **evolution with depth** — per layer, its top channel's render and map (:attr:`Explanation.evolution`).

Renders go through a :class:`~featviz.render_cache.RenderCache` (on disk, keyed by model weights,
unit or exact direction, and settings; atlases of the same model serve as sources), so a second
explanation is fast. Ctrl-C keeps every finished render (in the cache, and in the explanation,
which then says ``interrupted``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from featviz import io
from featviz import options as opts
from featviz.errors import InvalidArgumentError
from featviz.hooks import find_module
from featviz.prepared import LayerInfo, Prepared, prepare
from featviz.render_cache import Cached, CachedRenderer, RenderCache, make_cache, plain
from featviz.targets import OUTPUT

DEFAULT_LAYER_COUNT = opts.EXPLAIN_LAYERS
DEFAULT_GRID = opts.EXPLAIN_GRID
DEFAULT_GROUPS = opts.EXPLAIN_GROUPS
DEFAULT_TOP = opts.EXPLAIN_TOP
DEFAULT_STEPS = opts.EXPLAIN_STEPS
DEFAULT_SIZE = opts.EXPLAIN_SIZE
#: Direction renders per batch (the grid and the groups of one layer).
DIRECTION_CHUNK = {"cpu": 16, "cuda": 64}
_NMF_ITERATIONS = 200


@dataclass
class Render:
    """One picture of an explanation: what it shows, the image (None while not rendered), its score."""

    what: str
    image: torch.Tensor | None = None
    score: float | None = None
    cached: bool = False


@dataclass
class Channel:
    """A channel of a layer on the photo: its value (mean activation, or its contribution to the
    class), its map over the layer's grid, and its render."""

    channel: int
    value: float
    map: torch.Tensor
    render: Render


@dataclass
class Group:
    """A neuron group (NMF factor): its map over the grid, its channel mix, its render."""

    map: torch.Tensor
    weights: torch.Tensor
    share: float
    render: Render


@dataclass
class LayerExplanation:
    """What one layer sees in the photo.

    Attributes:
        layer, channels, grid_shape: the layer, its channel count and its spatial grid (H, W).
        strength: ``(H, W)`` the norm of the activation vector at each position.
        top: the semantic dictionary: top channels by mean activation.
        cells: the activation grid's shape (rows, cols) after pooling.
        cell_strength: ``(rows, cols)`` each cell's activation norm.
        cell_vectors: ``(rows * cols, C)`` each cell's mean activation vector (what it renders).
        cell_renders: one render per cell, row by row (None for a cell with no activation).
        groups: the neuron groups, largest first; ``explained_variance`` is theirs together.
        attribution: ``(H, W)`` gradient × activation summed over channels (signed).
        grad_cam: ``(H, W)`` Grad-CAM.
        attributing: the channels adding most to the class (value: their gradient × activation).
    """

    layer: str
    channels: int
    grid_shape: tuple[int, int]
    strength: torch.Tensor
    top: list[Channel]
    cells: tuple[int, int]
    cell_strength: torch.Tensor
    cell_vectors: torch.Tensor
    cell_renders: list[Render | None]
    groups: list[Group]
    explained_variance: float
    attribution: torch.Tensor
    grad_cam: torch.Tensor
    attributing: list[Channel]


@dataclass
class Explanation:
    """An explanation of one photo (see :func:`explain`); ``save(folder)`` writes the report.

    Attributes:
        model: the model's name.
        photo: ``(3, H, W)`` the photo as the model saw it (resized and center-cropped).
        source: where the photo came from (a file name, or a description).
        predictions: the top classes: ``[(class index, name, probability), ...]``.
        target: the class the attribution is for.
        layers: one :class:`LayerExplanation` per layer, in depth order.
        settings: how the renders were made.
        seconds: wall time; ``rendered``/``reused``: renders made anew / taken from the cache.
        interrupted: Ctrl-C stopped the renders; those missing have no image.
    """

    model: str
    photo: torch.Tensor
    source: str
    predictions: list[tuple[int, str, float]]
    target: int
    target_name: str
    layers: list[LayerExplanation]
    settings: dict[str, Any]
    seconds: float = 0.0
    rendered: int = 0
    reused: int = 0
    interrupted: bool = False

    @property
    def evolution(self) -> list[Channel]:
        """Per layer, in depth order, its top channel on the photo (render and map)."""
        return [layer.top[0] for layer in self.layers if layer.top]

    def layer(self, name: str) -> LayerExplanation:
        """The explanation of one layer, by name."""
        for layer in self.layers:
            if layer.layer == name:
                return layer
        raise InvalidArgumentError(
            f"this explanation has no layer {name!r}; it has {[layer.layer for layer in self.layers]}"
        )

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``index.html`` (self-contained, no network), the PNGs and ``explanation.json``
        into ``out_dir``; returns the page's path.

        Raises:
            WriteError: a file could not be written.
        """
        from featviz.explain_page import write_report

        return write_report(self, Path(out_dir))

    def to_dict(self) -> dict[str, Any]:
        """The numbers of the explanation as plain JSON data (no images)."""
        from featviz.explain_page import numbers

        return numbers(self)

    def _repr_html_(self) -> str:
        from featviz.explain_page import notebook_html

        return notebook_html(self)

    def __repr__(self) -> str:
        name = f"{self.target_name} ({self.target})"
        state = ", interrupted" if self.interrupted else ""
        return (
            f"Explanation({self.model}, {self.source!r}: {name}, layers "
            f"{[layer.layer for layer in self.layers]}{state})"
        )


def explain(
    model: nn.Module | str | Prepared,
    image: object,
    layers: Sequence[str] | None = None,
    target: int | None = None,
    *,
    grid: int = DEFAULT_GRID,
    groups: int = DEFAULT_GROUPS,
    top: int = DEFAULT_TOP,
    steps: int = DEFAULT_STEPS,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    cache: RenderCache | str | os.PathLike[str] | bool | None = True,
    atlases: Iterable[str | os.PathLike[str]] = (),
    render: bool = True,
    class_names: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    preprocess: object = None,
    progress: bool = True,
    **render_options: Any,  # noqa: ANN401 - featviz.render's options
) -> Explanation:
    """Explain what ``model`` sees in a photo, layer by layer, and what drives its decision.

    Example:
        >>> exp = featviz.explain("efficientnet_lite0", "cat.jpg")
        >>> exp.predictions[0]                      # (285, 'Egyptian cat', 0.71)
        >>> exp.layer("blocks.6").grad_cam          # (7, 7) where the model looks
        >>> exp.save("cat_report")                  # cat_report/index.html

    Args:
        model: an ``nn.Module`` (left as it was), a zoo name, or a prepared model.
        image: the photo: a file path, a PIL image or a ``(3, H, W)`` tensor in [0, 1]; it is
            resized and center-cropped to the model's input size.
        layers: layers with a spatial grid (feature maps or patch tokens); default: about
            :data:`DEFAULT_LAYER_COUNT` block outputs spread over the depth (:func:`default_layers`).
        target: the class to attribute (default: the top class).
        grid: most cells per side of the activation grid.
        groups: neuron groups per layer (0: none).
        top: channels per layer in the dictionary and the attribution.
        steps, size, seed: of every render (each unit and direction gets the same seed, so a
            picture does not depend on what else was rendered with it).
        cache: True (default folder), a folder, False (no cache) or a RenderCache.
        atlases: neuron-atlas folders of this model whose channel renders may be reused.
        render: False skips every render: the maps, groups and attributions alone, in seconds.
        class_names: names of the output classes (default: ImageNet's for 1000 classes).
        device, preprocess: as in :func:`featviz.prepare`.
        progress: a progress bar over the renders.
        **render_options: further options of :func:`featviz.render` (``param``, ``lr``, ...).

    Returns:
        An :class:`Explanation`. After Ctrl-C, the explanation so far (``interrupted``).

    Raises:
        LayerNotFoundError: a layer the model does not have.
        InvalidArgumentError: a layer without a spatial grid, an output that is not class
            scores, a bad photo, or another unusable argument.
    """
    start = time.perf_counter()
    _check_counts(grid=grid, groups=groups, top=top, steps=steps, size=size)
    prepared = prepare(model, preprocess=preprocess, device=device)
    photo, source = _photo(prepared, image)
    chosen = _layers(prepared, layers)
    logits = prepared.activations(photo, {OUTPUT})[OUTPUT]
    if logits.dim() != 2:
        raise InvalidArgumentError(
            f"explain attributes class scores, but the model's output has shape {tuple(logits.shape)}; "
            "it needs a classifier whose output is (batch, classes)"
        )
    count = logits.shape[1]
    names = _class_names(class_names, count)
    if target is None:
        target = int(logits[0].argmax())
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < count:
        raise InvalidArgumentError(f"target must be a class index in 0..{count - 1}, got {target!r}")
    probs = logits[0].softmax(0)
    best = probs.topk(min(5, count))
    predictions = [(int(i), names[int(i)], float(p)) for p, i in zip(best.values, best.indices, strict=True)]
    acts, grads, _ = prepared.gradients(photo, chosen, lambda out: out[:, target])

    layer_explanations = [
        _explain_layer(layer, acts[layer][0], grads[layer][0], grid, groups, top) for layer in chosen
    ]
    settings = {"steps": steps, "size": size, "seed": seed, **plain(render_options)}
    explanation = Explanation(
        model=prepared.name,
        photo=photo[0].cpu(),
        source=source,
        predictions=predictions,
        target=target,
        target_name=names[target],
        layers=layer_explanations,
        settings=settings,
    )
    if render:
        renderer = CachedRenderer(
            prepared, make_cache(cache, atlases), steps=steps, size=size, seed=seed, options=render_options
        )
        _Renderer(renderer, progress).fill(explanation)
    explanation.seconds = time.perf_counter() - start
    return explanation


# -- choosing layers -----------------------------------------------------------------------------


def default_layers(prepared: Prepared, count: int = DEFAULT_LAYER_COUNT) -> list[str]:
    """About ``count`` block outputs spread over the model's depth.

    The blocks are the composite children (modules with modules inside) of the ``nn.Sequential``
    or ``nn.ModuleList`` that spans most of the model's layers with a spatial grid: ``blocks`` in
    timm's EfficientNets and ViTs, ``stages``/``layers`` in ConvNeXt and Swin, ``features`` or
    ``encoder.layers`` in torchvision; when none spans half the model, the model's own composite
    children (``layer1``..``layer4`` of a torchvision ResNet). With more blocks than ``count``,
    the first is skipped (it sees little more than edges) and the last is always included.
    """
    grids = [info.layer for info in prepared.layers() if _has_grid(info)]
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
    if len(blocks) <= count:
        return blocks
    picks = sorted({round(1 + i * (len(blocks) - 2) / (count - 1)) for i in range(count)})
    return [blocks[i] for i in picks]


def _has_grid(info: LayerInfo) -> bool:
    return info.channels is not None and len(info.spatial) == 2 and info.spatial[0] * info.spatial[1] > 1


def _layers(prepared: Prepared, layers: Sequence[str] | None) -> list[str]:
    if layers is None:
        return default_layers(prepared)
    if isinstance(layers, str):
        layers = [layers]
    if not layers:
        raise InvalidArgumentError("layers must name at least one layer (or be left out for the default)")
    for layer in layers:
        find_module(prepared.model, layer)  # LayerNotFoundError with suggestions
    table = {info.layer: info for info in prepared.layers()}
    flat = [layer for layer in layers if layer in table and not _has_grid(table[layer])]
    if flat:
        info = table[flat[0]]
        raise InvalidArgumentError(
            f"layer {flat[0]!r} has output shape {info.shape}, no spatial grid, so there is nothing "
            "to see where; explain layers with feature maps or patch tokens (featviz.layers(model))"
        )
    order = {name: i for i, name in enumerate(table)}
    return sorted(dict.fromkeys(layers), key=lambda name: order.get(name, len(order)))


# -- what a layer sees ---------------------------------------------------------------------------


def _explain_layer(
    layer: str, act: torch.Tensor, grad: torch.Tensor, grid: int, groups: int, top: int
) -> LayerExplanation:
    """The numbers of one layer: ``act`` and ``grad`` are ``(C, H, W)``."""
    act, grad = act.detach().float().cpu(), grad.detach().float().cpu()
    channels, height, width = act.shape
    mean = act.mean((1, 2))
    top_channels = mean.topk(min(top, channels)).indices.tolist()
    pooled = F.adaptive_avg_pool2d(act[None], (min(height, grid), min(width, grid)))[0]
    cell_vectors = pooled.flatten(1).T  # (cells, C)
    cell_norms = cell_vectors.norm(dim=1)
    contribution = grad * act
    per_channel = contribution.sum((1, 2))
    attributing = per_channel.topk(min(top, channels)).indices.tolist()
    factors = nmf(act.clamp(min=0).flatten(1).T, groups) if groups else None
    group_list: list[Group] = []
    explained = float("nan")
    if factors is not None:
        spatial, mixes, explained = factors
        shares = spatial.sum(0) / spatial.sum().clamp(min=1e-12)
        for j in range(mixes.shape[0]):
            group_list.append(
                Group(
                    spatial[:, j].reshape(height, width),
                    mixes[j],
                    float(shares[j]),
                    Render(f"{layer} group {j}"),
                )
            )
    weights = grad.mean((1, 2))
    return LayerExplanation(
        layer=layer,
        channels=channels,
        grid_shape=(height, width),
        strength=act.norm(dim=0),
        top=[Channel(c, float(mean[c]), act[c], Render(f"{layer}:{c}")) for c in top_channels],
        cells=(pooled.shape[1], pooled.shape[2]),
        cell_strength=cell_norms.reshape(pooled.shape[1], pooled.shape[2]),
        cell_vectors=cell_vectors,
        cell_renders=[
            Render(f"{layer} cell {i}") if norm > 1e-6 * max(float(cell_norms.max()), 1e-12) else None
            for i, norm in enumerate(cell_norms.tolist())
        ],
        groups=group_list,
        explained_variance=explained,
        attribution=contribution.sum(0),
        grad_cam=(weights[:, None, None] * act).sum(0).clamp(min=0),
        attributing=[
            Channel(c, float(per_channel[c]), contribution[c], Render(f"{layer}:{c}")) for c in attributing
        ],
    )


def nmf(
    x: torch.Tensor, k: int, iterations: int = _NMF_ITERATIONS, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, float] | None:
    """Non-negative matrix factorization ``x ≈ W @ H`` by multiplicative updates (Lee & Seung 2001).

    Args:
        x: ``(N, C)`` non-negative (positions × channels).
        k: factors (at most ``min(N, C)``).

    Returns:
        ``(W (N, k), H (k, C), explained variance)``, each row of ``H`` of unit norm and the
        factors ordered by their total weight in ``W``, largest first; the explained variance is
        ``1 - |x - WH|² / |x - mean over positions|²``. None when ``x`` is all zero.
    """
    x = x.float()
    n, c = x.shape
    k = min(k, n, c)
    if k < 1 or float(x.max()) <= 0:
        return None
    generator = torch.Generator().manual_seed(seed)
    scale = math.sqrt(float(x.mean()) / k)
    w = torch.rand(n, k, generator=generator, dtype=torch.float32) * scale + 1e-6
    h = torch.rand(k, c, generator=generator, dtype=torch.float32) * scale + 1e-6
    eps = 1e-10
    for _ in range(iterations):
        h *= (w.T @ x) / (w.T @ w @ h + eps)
        w *= (x @ h.T) / (w @ (h @ h.T) + eps)
    norms = h.norm(dim=1).clamp(min=eps)
    h, w = h / norms[:, None], w * norms[None, :]
    order = w.sum(0).argsort(descending=True)
    w, h = w[:, order], h[order]
    residual = float(((x - w @ h) ** 2).sum())
    total = float(((x - x.mean(0, keepdim=True)) ** 2).sum())
    explained = 1.0 - residual / total if total > 0 else 1.0
    return w, h, explained


# -- renders -------------------------------------------------------------------------------------


class _Renderer:
    """Fills the explanation's renders: cached ones first, then the rest, layer by layer."""

    def __init__(self, renderer: CachedRenderer, progress: bool) -> None:
        self.renderer = renderer
        self.progress = progress

    def fill(self, explanation: Explanation) -> None:
        units: dict[str, list[Render]] = {}
        vectors: dict[str, list[tuple[torch.Tensor, Render]]] = {}
        for layer in explanation.layers:
            for channel in layer.top + layer.attributing:
                units.setdefault(channel.render.what, []).append(channel.render)
            for index, cell in enumerate(layer.cell_renders):
                if cell is not None:
                    vectors.setdefault(layer.layer, []).append((layer.cell_vectors[index], cell))
            for group in layer.groups:
                vectors.setdefault(layer.layer, []).append((group.weights, group.render))
        todo_units = {
            what: renders
            for what, renders in units.items()
            if not _fill(renders, self.renderer.cached_unit(what), cached=True)
        }
        todo_vectors = {
            layer: [
                (v, r)
                for v, r in pairs
                if not _fill([r], self.renderer.cached_direction(layer, v), cached=True)
            ]
            for layer, pairs in vectors.items()
        }
        explanation.reused = len(units) - len(todo_units)
        explanation.reused += sum(len(vectors[layer]) - len(todo_vectors[layer]) for layer in vectors)
        total = len(todo_units) + sum(len(p) for p in todo_vectors.values())
        chunk = DIRECTION_CHUNK.get(self.renderer.prepared.device.type, 16)
        bar = tqdm(total=total, disable=not self.progress, desc="explain: renders", unit="render")
        with bar:
            for layer in explanation.layers:
                name = layer.layer
                wanted = [what for what in todo_units if what.startswith(name + ":")]
                found = self.renderer.units(wanted) if wanted else []
                if found is None:
                    explanation.interrupted = True
                    return
                for what, item in zip(wanted, found, strict=True):
                    _fill(todo_units[what], item, cached=False)
                explanation.rendered += len(found)
                bar.update(len(found))
                pairs = todo_vectors.get(name, [])
                for start in range(0, len(pairs), chunk):
                    part = pairs[start : start + chunk]
                    made = self.renderer.directions(name, [vector for vector, _ in part])
                    if made is None:
                        explanation.interrupted = True
                        return
                    for (_, r), item in zip(part, made, strict=True):
                        _fill([r], item, cached=False)
                    explanation.rendered += len(part)
                    bar.update(len(part))


def _fill(renders: list[Render], found: Cached | None, cached: bool) -> bool:
    """Give ``renders`` the picture ``found`` (False when there is none)."""
    if found is None:
        return False
    for r in renders:
        r.image, r.score, r.cached = found.image, _finite(found.score), cached
    return True


# -- helpers -------------------------------------------------------------------------------------


def _photo(prepared: Prepared, image: object) -> tuple[torch.Tensor, str]:
    source = Path(image).name if isinstance(image, (str, os.PathLike)) else type(image).__name__
    photo = io.load_images(image, prepared.default_size)
    if len(photo) != 1:
        raise InvalidArgumentError(f"explain takes one photo, got a batch of {len(photo)}")
    return photo, source


def _class_names(names: Sequence[str] | None, count: int) -> list[str]:
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


def _check_counts(**values: object) -> None:
    for name, value in values.items():
        low = 0 if name == "groups" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(f"{name} must be an int >= {low}, got {value!r}")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


__all__ = [
    "explain",
    "Explanation",
    "LayerExplanation",
    "Channel",
    "Group",
    "Render",
    "default_layers",
    "nmf",
    "DEFAULT_GRID",
    "DEFAULT_GROUPS",
    "DEFAULT_TOP",
    "DEFAULT_STEPS",
    "DEFAULT_SIZE",
]
