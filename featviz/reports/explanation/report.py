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
5. **evolution with depth** — per layer, its top channel's render and map (:attr:`Explanation.evolution`);
6. **faithfulness** — for each layer's Grad-CAM and gradient × activation, the deletion and
   insertion curves of the photo's pixels in the map's order (Petsiuk et al. 2018, RISE) against
   random orders (:mod:`featviz.analysis.faithfulness`): which map to believe;
7. **concepts in this photo** (with a concept dictionary, :mod:`featviz.analysis.dictionary`) —
   the dictionary's concepts that add most to the class at its layer, by gradient × concept
   activation through the decoder (CRAFT, Fel et al. 2023): each with its map over the photo and
   the render of its direction.

Renders go through a :class:`~featviz.rendering.cache.RenderCache` (on disk, keyed by model weights,
unit or exact direction, and settings; atlases of the same model serve as sources), so a second
explanation is fast. Ctrl-C keeps every finished render (in the cache, and in the explanation,
which then says ``interrupted``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from featviz import files, imaging
from featviz import options as opts
from featviz.analysis.attribution import grad_cam, gradient_x_activation
from featviz.analysis.dictionary import Dictionary, contributions
from featviz.analysis.dictionary import load as load_dictionary
from featviz.analysis.faithfulness import Faithfulness, deletion_insertion
from featviz.analysis.nmf import nmf
from featviz.errors import InvalidArgumentError
from featviz.model import facts
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.cache import CachedRenderer, RenderCache, make_cache, model_fingerprint, plain
from featviz.rendering.queue import Job, RenderQueue
from featviz.reports import frame
from featviz.reports.explanation import page
from featviz.reports.explanation.record import (
    Channel,
    ConceptInPhoto,
    ExplanationData,
    Group,
    LayerExplanation,
    PhotoConcepts,
    Render,
)
from featviz.targets import OUTPUT

DEFAULT_LAYER_COUNT = opts.EXPLAIN_LAYERS
DEFAULT_GRID = opts.EXPLAIN_GRID
DEFAULT_GROUPS = opts.EXPLAIN_GROUPS
DEFAULT_TOP = opts.EXPLAIN_TOP
DEFAULT_STEPS = opts.EXPLAIN_STEPS
DEFAULT_SIZE = opts.EXPLAIN_SIZE
#: With ``out_dir``, the report is written again after a batch of renders at most this often (s).
REFRESH_SECONDS = 20
#: Deletion / insertion of each map: in this many chunks of pixels, against this many random
#: orders (shared by every map of an explanation): 2 * (steps + 1) passes of the model per map.
FAITHFULNESS_STEPS = 16
FAITHFULNESS_RANDOM_ORDERS = 3
#: With a concept dictionary: the concepts shown, those with the largest positive contributions.
CONCEPTS = 6


class Explanation(ExplanationData, frame.Report):
    """An explanation of one photo (see :func:`explain`): ``save(folder)`` writes the report,
    ``to_dict()`` gives its numbers, and a notebook shows it inline."""

    _what = "an explanation"
    _page = page


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
    size: int | tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    cache: RenderCache | str | os.PathLike[str] | bool | None = True,
    atlases: Iterable[str | os.PathLike[str]] = (),
    render: bool = True,
    faithfulness: bool = True,
    concepts: str | os.PathLike[str] | Dictionary | None = None,
    class_names: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    preprocess: object = None,
    progress: bool = True,
    out_dir: str | os.PathLike[str] | None = None,
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
        faithfulness: measure how far to believe each layer's Grad-CAM and gradient × activation:
            deletion and insertion of the photo's pixels in the map's order, against random
            orders (:func:`measure_faithfulness`): about 34 passes of the model per map and 100
            for chance, 440 for five layers (EfficientNet-Lite0 on two busy CPU cores: about
            40 s more than the 2 s of ``render=False`` alone).
        concepts: a concept dictionary of this model (the ``dictionary.pt`` that ``featviz
            concepts`` writes, or a :class:`~featviz.analysis.dictionary.Dictionary`): adds the
            :data:`CONCEPTS` concepts that add most to the class at the dictionary's layer, each
            with its contribution (gradient × concept activation), its map and its render
            (:attr:`Explanation.concepts`).
        class_names: names of the output classes (default: ImageNet's for 1000 classes).
        device, preprocess: as in :func:`featviz.prepare`.
        progress: a progress bar over the renders.
        out_dir: also write the report there: at once, before any render (the maps, the numbers,
            the groups and the attribution, with the renders shown as pending and a page that
            reloads itself), then again as renders finish (at most every
            :data:`REFRESH_SECONDS`), and complete at the end — as ``save(out_dir)`` would.
        **render_options: further options of :func:`featviz.render` (``param``, ``lr``, ...);
            ``resize=False`` feeds the small renders to a convolutional model at their own size:
            about 2.3× cheaper on Lite0, but they score lower in the quality benchmark
            (benchmarks/RESULTS.md), so it is not the default.

    Returns:
        An :class:`Explanation`. After Ctrl-C, the explanation so far (``interrupted``).

    Raises:
        LayerNotFoundError: a layer the model does not have.
        InvalidArgumentError: a layer without a spatial grid, an output that is not class
            scores, a bad photo, a concept dictionary that is missing, unreadable or not of this
            model's layer (its layer or its channel count), or another unusable argument.
    """
    start = time.perf_counter()
    for name, value in {"grid": grid, "top": top, "steps": steps}.items():
        frame.check_count(name, value)
    frame.check_count("groups", groups, 0)
    frame.check_size(size)
    dictionary = _dictionary(concepts)
    prepared = prepare(model, preprocess=preprocess, device=device)
    photo, source = _photo(prepared, image)
    chosen = _layers(prepared, layers)
    if dictionary is not None:
        _check_dictionary(prepared, dictionary)
    logits = prepared.activations(photo, {OUTPUT})[OUTPUT]
    if logits.dim() != 2:
        raise InvalidArgumentError(
            f"explain attributes class scores, but the model's output has shape {tuple(logits.shape)}; "
            "it needs a classifier whose output is (batch, classes)"
        )
    count = logits.shape[1]
    names = facts.class_names(class_names, count)
    if target is None:
        target = int(logits[0].argmax())
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < count:
        raise InvalidArgumentError(f"target must be a class index in 0..{count - 1}, got {target!r}")
    probs = logits[0].softmax(0)
    best = probs.topk(min(5, count))
    predictions = [(int(i), names[int(i)], float(p)) for p, i in zip(best.values, best.indices, strict=True)]
    at = chosen if dictionary is None else [*chosen, dictionary.layer]
    acts, grads, _ = prepared.gradients(photo, at, lambda out: out[:, target])

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
        fingerprint=model_fingerprint(prepared),
        concepts=None
        if dictionary is None
        else concepts_in_photo(dictionary, acts[dictionary.layer], grads[dictionary.layer]),
    )
    explanation.stages["analysis"] = time.perf_counter() - start
    writer = _Writer(explanation, out_dir, start)
    explanation.rendering, explanation.faithfulness_pending = render, faithfulness
    writer.write()  # the first page: everything but the renders and the faithfulness curves
    explanation.stages["first page"] = writer.spent
    if faithfulness:  # a few hundred passes of the model: after the first page, before the renders
        began = time.perf_counter()
        measure_faithfulness(prepared, photo[0], layer_explanations, target, seed)
        explanation.faithfulness_pending = False
        explanation.stages["faithfulness"] = time.perf_counter() - began
        if render:
            writer.write()
    if render:
        renderer = CachedRenderer(
            prepared, make_cache(cache, atlases), steps=steps, size=size, seed=seed, options=render_options
        )
        written = writer.spent
        began = time.perf_counter()
        try:
            _render(explanation, renderer, progress, writer.refresh)
        finally:
            explanation.rendering = False
            pages = writer.spent - written
            explanation.stages["renders"] = time.perf_counter() - began - pages
        explanation.stages["pages"] = writer.spent - explanation.stages["first page"]
    explanation.seconds = time.perf_counter() - start
    writer.write()
    return explanation


class _Writer:
    """Writes the explanation into ``out`` (when given) as it fills in."""

    def __init__(self, explanation: Explanation, out: str | os.PathLike[str] | None, start: float) -> None:
        self.explanation, self.out, self.start = explanation, out, start
        self.last = 0.0
        #: Seconds spent writing so far.
        self.spent = 0.0

    def write(self) -> None:
        if self.out is None:
            return
        began = time.perf_counter()
        self.explanation.seconds = began - self.start
        if not self.last:  # the first write replaces whatever the folder held
            self.explanation.save(self.out)
        else:  # later ones fill in this run's own page: it stays in place while it is rewritten
            with frame.claim(self.out, self.explanation._what) as out:
                page.write_report(self.explanation, out)
        self.last = time.perf_counter()
        self.spent += self.last - began

    def refresh(self) -> None:
        if time.perf_counter() - self.last >= REFRESH_SECONDS:
            self.write()


# -- choosing layers -----------------------------------------------------------------------------


def _layers(prepared: Prepared, layers: Sequence[str] | None) -> list[str]:
    if layers is None:
        return facts.default_layers(prepared, DEFAULT_LAYER_COUNT)
    chosen = facts.in_depth_order(prepared, [layers] if isinstance(layers, str) else list(layers))
    table = {info.layer: info for info in prepared.layers()}
    flat = [layer for layer in chosen if layer in table and not facts.has_grid(table[layer])]
    if flat:
        info = table[flat[0]]
        raise InvalidArgumentError(
            f"layer {flat[0]!r} has output shape {info.shape}, no spatial grid, so there is nothing "
            "to see where; explain layers with feature maps or patch tokens (featviz.layers(model))"
        )
    return chosen


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
        attribution=gradient_x_activation.attribute(act, grad),
        grad_cam=grad_cam.attribute(act, grad),
        attributing=[
            Channel(c, float(per_channel[c]), contribution[c], Render(f"{layer}:{c}")) for c in attributing
        ],
    )


# -- concepts in the photo ------------------------------------------------------------------------


def concepts_in_photo(
    dictionary: Dictionary, activation: torch.Tensor, gradient: torch.Tensor, count: int = CONCEPTS
) -> PhotoConcepts:
    """The concepts of ``dictionary`` that add most to a class score on a photo.

    Args:
        dictionary: a concept dictionary of the layer.
        activation, gradient: ``(1, C, H, W)`` the layer's activation on the photo and the class
            score's gradient with respect to it.
        count: the most concepts kept; only those with a positive contribution are.

    Returns:
        The contributions of all the dictionary's concepts added up (``total``) and of the
        positive ones (``positive``), and the kept concepts, largest contribution first, each with
        its share of ``positive``, its map of codes over the grid and its direction.
    """
    activation, gradient = activation.detach().float().cpu(), gradient.detach().float().cpu()
    codes, contribution = contributions(dictionary, activation, gradient)
    codes, contribution = codes[0], contribution[0]
    positive = float(contribution.clamp(min=0).sum())
    order = contribution.argsort(descending=True)[:count].tolist()
    return PhotoConcepts(
        method=dictionary.method,
        layer=dictionary.layer,
        fingerprint=dictionary.fingerprint(),
        size=dictionary.size,
        grid_shape=(codes.shape[1], codes.shape[2]),
        total=float(contribution.sum()),
        positive=positive,
        concepts=[
            ConceptInPhoto(
                concept=i,
                contribution=float(contribution[i]),
                share=float(contribution[i]) / positive,
                map=codes[i],
                direction=dictionary.directions[i].clone(),
                render=Render(f"{dictionary.layer} concept {i}"),
            )
            for i in order
            if contribution[i] > 0
        ],
    )


def _dictionary(concepts: str | os.PathLike[str] | Dictionary | None) -> Dictionary | None:
    if concepts is None or isinstance(concepts, Dictionary):
        return concepts
    if isinstance(concepts, (str, os.PathLike)):
        return load_dictionary(concepts)
    raise InvalidArgumentError(
        f"concepts must be the path of a dictionary.pt written by `featviz concepts` or a "
        f"featviz.analysis.dictionary.Dictionary, got a {type(concepts).__name__}"
    )


def _check_dictionary(prepared: Prepared, dictionary: Dictionary) -> None:
    """The dictionary fits the model: its layer runs, has a grid, and has its channel count."""
    table = {info.layer: info for info in prepared.layers()}
    info = table.get(dictionary.layer)
    remedy = (
        "learn one on this model with `featviz concepts MODEL LAYER PHOTO_DIR` (`featviz layers "
        "MODEL` lists its layers)"
    )
    if info is None:
        raise InvalidArgumentError(
            f"the concept dictionary was learned at layer {dictionary.layer!r}, which this model "
            f"({prepared.name}) does not have; give a dictionary of this model's layers, or {remedy}"
        )
    if not facts.has_grid(info):
        raise InvalidArgumentError(
            f"the concept dictionary's layer {dictionary.layer!r} has output shape {info.shape}, no "
            "spatial grid, so its concepts have no place on the photo; give a dictionary of a layer "
            "with feature maps or patch tokens"
        )
    if info.channels != dictionary.channels:
        raise InvalidArgumentError(
            f"the concept dictionary has {dictionary.channels}-channel directions, but this model's "
            f"layer {dictionary.layer!r} has {info.channels} channels, so it was learned on another "
            f"model; give the dictionary of this model, or {remedy}"
        )


# -- which map to believe ------------------------------------------------------------------------


def measure_faithfulness(
    prepared: Prepared,
    photo: torch.Tensor,
    layers: Sequence[LayerExplanation],
    target: int,
    seed: int = 0,
    steps: int = FAITHFULNESS_STEPS,
    random_orders: int = FAITHFULNESS_RANDOM_ORDERS,
) -> None:
    """Fill each layer's ``grad_cam_faithfulness`` and ``attribution_faithfulness``: the
    deletion and insertion curves of the photo's pixels in the map's order, and of random orders
    (:func:`featviz.analysis.faithfulness.deletion_insertion`, blur baseline).

    Grad-CAM is ranked as it is; gradient × activation by its signed value, which is the order of
    its positive part (the evidence for the class) with the places that speak against the class
    last, so removing them cannot make the map look better. A map with a non-finite value is
    left unmeasured (None).

    The random orders depend only on the photo, the target, ``steps`` and ``seed``, never on the
    map, so they are measured once and shared by every map (the numbers separate calls would
    give, at a fraction of the model passes).

    Args:
        prepared: the model.
        photo: ``(3, H, W)`` the photo as the model saw it.
        layers: the layers' explanations, filled in place.
        target: the class whose probability the curves follow.
        seed: seeds the random orders.
        steps: chunks of pixels per curve.
        random_orders: random orders averaged for chance.
    """
    chance: Faithfulness | None = None

    def measured(saliency: torch.Tensor) -> Faithfulness | None:
        nonlocal chance
        if not torch.isfinite(saliency).all():
            return None
        orders = random_orders if chance is None else 0
        found = deletion_insertion(prepared, photo, saliency, target, steps, "blur", orders, seed)
        if chance is None:
            chance = found
            return found
        return replace(
            found,
            random_deletion=chance.random_deletion,
            random_insertion=chance.random_insertion,
            random_deletion_auc=chance.random_deletion_auc,
            random_insertion_auc=chance.random_insertion_auc,
            random_orders=chance.random_orders,
        )

    for layer in layers:
        layer.grad_cam_faithfulness = measured(layer.grad_cam)
        layer.attribution_faithfulness = measured(layer.attribution)


# -- renders -------------------------------------------------------------------------------------


def _render(
    explanation: Explanation, renderer: CachedRenderer, progress: bool, after_batch: Callable[[], None]
) -> None:
    """Fill the explanation's renders through one render queue (cache first, then in batches)."""
    queue = RenderQueue(renderer, progress, desc="explain: renders")
    wanted: list[tuple[Render, Job]] = []
    for layer in explanation.layers:
        for channel in layer.top + layer.attributing:
            wanted.append((channel.render, queue.unit(channel.render.what)))
        for index, cell in enumerate(layer.cell_renders):
            if cell is not None:
                wanted.append((cell, queue.direction(layer.layer, layer.cell_vectors[index])))
        for group in layer.groups:
            wanted.append((group.render, queue.direction(layer.layer, group.weights)))
    if explanation.concepts is not None:
        for concept in explanation.concepts.concepts:
            wanted.append((concept.render, queue.direction(explanation.concepts.layer, concept.direction)))

    def fill() -> None:
        explanation.rendered, explanation.reused = queue.rendered, queue.reused
        for render, job in wanted:
            if job.found is not None and render.image is None:
                render.image, render.cached = job.found.image, job.cached
                render.score = files.finite(job.found.score)

    def after() -> None:
        fill()
        after_batch()

    explanation.interrupted = not queue.run(after)
    fill()


# -- helpers -------------------------------------------------------------------------------------


def _photo(prepared: Prepared, image: object) -> tuple[torch.Tensor, str]:
    source = Path(image).name if isinstance(image, (str, os.PathLike)) else type(image).__name__
    photo = imaging.load_images(image, prepared.default_size)
    if len(photo) != 1:
        raise InvalidArgumentError(f"explain takes one photo, got a batch of {len(photo)}")
    return photo, source


__all__ = [
    "explain",
    "measure_faithfulness",
    "concepts_in_photo",
    "Explanation",
    "LayerExplanation",
    "Channel",
    "Group",
    "Render",
    "ConceptInPhoto",
    "PhotoConcepts",
    "CONCEPTS",
    "DEFAULT_GRID",
    "DEFAULT_GROUPS",
    "DEFAULT_TOP",
    "DEFAULT_STEPS",
    "DEFAULT_SIZE",
]
