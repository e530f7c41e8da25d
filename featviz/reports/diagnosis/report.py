"""``featviz.diagnose``: unit health, gradient health and transfer, layer by layer, on your images.

For each layer (default: every block output; ``layers="activations"`` for every activation
function), streaming over the images in batches:

1. **Unit health** — activation mean, standard deviation and sparsity (share of values ≤ 0);
   what the layer's values last went through (its activation: the last module to run inside the
   layer, found from one forward pass; ``"none"`` for a normalization, a convolution or a residual
   sum); for rectified layers (a ReLU, ReLU6 or Hardtanh from 0, and no value below 0 in the data),
   *dead* channels (never positive on any position of any image) and *always-on* channels
   (positive everywhere: the unit never uses its nonlinearity); *saturated* channels (at the cap
   of a ReLU6/Hardtanh on at least :data:`SATURATED_SHARE` of the positions). Each count says
   how many images and positions it rests on; below :data:`MIN_IMAGES` images a warning says
   that "never positive" on them still allows firing on up to about 3/N of such images (the rule
   of three).
2. **Gradient health** — the gradient of the loss (cross-entropy with the labels, else the top
   logit's negative log-probability) with respect to each layer's output and parameters; the
   output gradient's norm as a ratio to the deepest diagnosed layer's: *vanishing* below
   :data:`VANISHING`, *exploding* above :data:`EXPLODING`; the parameters' norms.
3. **Transfer** — with labels, a linear probe per layer on pooled features
   (:func:`featviz.analysis.probes.linear_probe`: logistic regression with its penalty chosen by
   cross-validation inside each training split, the same stratified splits for every layer, a
   95 % interval and a permutation test against chance) and the advice of where to stop freezing
   (:func:`~featviz.analysis.probes.freeze_advice`: Holm's correction over the layers, then the
   earliest readable layer not significantly worse than the best), given only where the probes
   support it: otherwise "no layer reads these labels better than chance". With ``compare=``,
   linear CKA (Kornblith et al. 2019; unbiased HSIC) between every layer of the two models.

Pooled features are each layer's activations averaged over positions (``images × channels``), so
memory stays bounded by the number of images whatever the layer's grid (CKA also builds an
``images × images`` Gram matrix per layer).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from featviz import files, imaging
from featviz import options as opts
from featviz.analysis.cka import linear_cka
from featviz.analysis.probes import (
    ALPHA,
    FreezeAdvice,
    ProbeResult,
    compare_to_best,
    freeze_advice,
    linear_probe,
    stratified_splits,
)
from featviz.errors import InvalidArgumentError
from featviz.model import facts
from featviz.model.hooks import captured, find_module, first_tensor, guarded, scoped_hooks
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.cache import CachedRenderer, RenderCache, make_cache, model_fingerprint
from featviz.rendering.queue import RenderQueue
from featviz.reports import frame
from featviz.reports.diagnosis import page
from featviz.reports.diagnosis.record import (
    EXPLODING,
    MIN_IMAGES,
    SATURATED_SHARE,
    VANISHING,
    DiagnosisData,
    LayerHealth,
    rate_bound,
)

# Modules that hand their input on unchanged in eval mode: not what a layer's values "went through".
_PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_PASS_THROUGH_NAMES = {"DropPath", "DropBlock2d"}  # timm's
_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Hardswish,
    nn.Hardtanh,
    nn.Sigmoid,
    nn.Tanh,
    nn.Mish,
)


class Diagnosis(DiagnosisData, frame.Report):
    """The diagnosis of a model on a set of images (see :func:`diagnose`): ``save(folder)``
    writes the report, ``to_dict()`` gives every number, and a notebook shows it inline."""

    _what = "a diagnosis"
    _page = page


def diagnose(
    model: nn.Module | str | Prepared,
    images: object,
    labels: Sequence[int] | torch.Tensor | str | None = None,
    layers: Sequence[str] | str | None = None,
    *,
    compare: nn.Module | str | Prepared | None = None,
    batch: int = 32,
    size: int | tuple[int, int] | None = None,
    gradients: bool = True,
    render: bool = True,
    top: int = opts.EXPLAIN_TOP,
    steps: int = opts.EXPLAIN_STEPS,
    cache: RenderCache | str | os.PathLike[str] | bool | None = True,
    atlases: Sequence[str | os.PathLike[str]] = (),
    seed: int = 0,
    device: torch.device | str | None = None,
    preprocess: object = None,
    layouts: dict[str, str] | None = None,
    progress: bool = True,
) -> Diagnosis:
    """Diagnose ``model``'s layers on ``images``: unit health, gradient health, transfer.

    Example:
        >>> d = featviz.diagnose("efficientnet_lite0", "photos/", labels="folders")
        >>> d.flagged                       # {'blocks.3': ['2 dead channels'], ...}
        >>> d.freeze_verdict                # 'Freeze up to blocks.4.' or 'No layer reads ...'
        >>> d.freeze_up_to, d.freeze_rule   # None where the probes support no advice
        >>> d.layer("blocks.4").probe       # accuracy, ci_low, ci_high, p_value, penalty, ...
        >>> d.save("diagnosis")             # diagnosis/index.html, diagnosis.json, charts

    Args:
        model: an ``nn.Module`` (left as it was), a zoo name or a prepared model.
        images: a folder of images (read batch by batch), or an ``(N, 3, H, W)`` tensor in [0, 1].
        labels: one class index per image; ``"folders"`` for a folder's subfolders (ImageFolder:
            sorted subfolder names are classes 0, 1, ...); None for no labels (no probes; the
            gradient is of the top class's negative log-probability). Every class needs at least
            3 images for the probes, and a few dozen for them to tell layers apart.
        layers: layer names; ``"blocks"`` (default) for every block output; ``"activations"``
            for every activation function (where dead and saturated units live).
        compare: a second model (e.g. the fine-tuned copy) for linear CKA between the layers.
        batch: images per forward pass.
        size: the images' size (default: the model's input size).
        gradients: False skips the gradient pass (a backward pass per batch): no gradient health.
        render: render the flagged channels (at most ``top`` per layer) through the render cache.
        top, steps, cache, atlases: of those renders (as in :func:`featviz.explain`).
        seed: of those renders, and of the probes' splits and permutation tests.
        device, preprocess, layouts: as in :func:`featviz.prepare` (``compare`` is prepared on
            the same device, with the same preprocessing).
        progress: progress bars.

    Raises:
        InvalidArgumentError: no images, labels that do not match them, a model whose output is
            not class scores when a loss is needed, or another unusable argument.
        LayerNotFoundError: a layer the model does not have.
    """
    start = time.perf_counter()
    for name, value in {"batch": batch, "top": top, "steps": steps}.items():
        frame.check_count(name, value)
    prepared = prepare(model, preprocess=preprocess, device=device, layouts=layouts)
    source = _Images(images, labels, size or prepared.default_size)
    if source.labels is not None:
        stratified_splits(source.labels, seed)  # a class too small to probe: say so before any work
    chosen = _layers(prepared, layers)
    other = None if compare is None else prepare(compare, preprocess=preprocess, device=prepared.device)  # type: ignore[arg-type]
    if other is not None and len(source) < 4:
        raise InvalidArgumentError(
            f"comparing with CKA needs at least 4 images (its unbiased estimator), got {len(source)}; "
            "give more images or leave compare out"
        )
    ends = _last_modules(prepared, chosen, source.size)
    stats = {name: _Stats(ends[name]) for name in chosen}
    grads = _Gradients(prepared, chosen)

    def visit(x: torch.Tensor, y: torch.Tensor | None, acts: dict[str, torch.Tensor]) -> None:
        for name in chosen:
            stats[name].add(acts[name])
        if gradients:
            grads.add(x, y, len(source))

    features = _sweep(prepared, source, chosen, batch, progress, "diagnose", visit)
    results = [stats[name].health(name, prepared, grads) for name in chosen]
    deepest = results[-1].gradient_norm
    for result in results:
        if gradients:
            result.gradient_ratio = result.gradient_norm / deepest if deepest > 0 else float("nan")
        else:  # not measured: no numbers, no gradient flags (not "non-finite")
            result.gradient_norm, result.parameter_gradient_norm = float("nan"), None
        result.flags = _flags(result, gradients)
    diagnosis = Diagnosis(
        model=prepared.name,
        images=len(source),
        labelled=source.labels is not None,
        classes=int(source.labels.max()) + 1 if source.labels is not None else None,
        class_names=source.class_names,
        layers=results,
        output_gradient_norm=grads.output_norm(),
        probe_chance=None,
        freeze_up_to=None,
        freeze_rule=None,
        warnings=_warnings(results, len(source)),
        settings={
            "batch": batch,
            "layers": layers if isinstance(layers, str) else "given" if layers else "blocks",
        },
        fingerprint=model_fingerprint(prepared),
    )
    if source.labels is not None:
        _probe_all(diagnosis, features, source.labels, seed, progress)
    if other is not None:
        _compare(diagnosis, features, other, source, batch, progress)
    if render:
        _render_flagged(diagnosis, prepared, make_cache(cache, atlases), top, steps, seed, progress)
    diagnosis.seconds = time.perf_counter() - start
    return diagnosis


# -- images --------------------------------------------------------------------------------------


class _Images:
    """The images, read batch by batch from files (bounded memory) or sliced from a tensor."""

    def __init__(self, images: object, labels: object, size: int | tuple[int, int]) -> None:
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        self.paths: list[Path] | None = None
        self.tensor: torch.Tensor | None = None
        self.class_names: list[str] = []
        if isinstance(images, (str, os.PathLike)):
            self.paths = files.image_files(images)
            root = Path(images)
        else:
            self.tensor = imaging.load_images(images, self.size)
        self.labels = self._labels(labels, root if self.paths is not None else None)

    def __len__(self) -> int:
        return len(self.paths) if self.paths is not None else len(self.tensor)  # type: ignore[arg-type]

    def _labels(self, labels: object, root: Path | None) -> torch.Tensor | None:
        if labels is None:
            return None
        if isinstance(labels, str):
            if labels != "folders" or root is None or self.paths is None:
                raise InvalidArgumentError(
                    f"labels={labels!r}: the only named labels are 'folders', for a folder of "
                    "images in one subfolder per class; otherwise give one class index per image"
                )
            names = [
                path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else ""
                for path in self.paths
            ]
            if "" in names:
                raise InvalidArgumentError(
                    f"labels='folders' needs every image in a class subfolder of {str(root)!r}, but "
                    "some lie directly in it; move them into a subfolder per class"
                )
            classes = sorted(set(names))
            self.class_names = classes
            return torch.tensor([classes.index(name) for name in names])
        values = torch.as_tensor(labels).flatten()
        if values.is_floating_point() or len(values) != len(self) or (len(values) and int(values.min()) < 0):
            raise InvalidArgumentError(
                f"labels must be one class index >= 0 per image ({len(self)}), got {len(values)} values"
                f"{' of floats' if values.is_floating_point() else ''}"
            )
        return values.long()

    def batches(self, batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        for begin in range(0, len(self), batch):
            rows = slice(begin, min(len(self), begin + batch))
            if self.paths is not None:
                x = torch.cat(
                    [imaging.load_images(imaging.read_photo(p), self.size) for p in self.paths[rows]]
                )
            else:
                x = self.tensor[rows]  # type: ignore[index]
            yield x, None if self.labels is None else self.labels[rows]


# -- layers --------------------------------------------------------------------------------------


def _layers(prepared: Prepared, layers: Sequence[str] | str | None) -> list[str]:
    if layers is None or layers == "blocks":
        return facts.default_layers(prepared)
    if layers == "activations":
        found = [
            info.layer
            for info in prepared.layers()
            if isinstance(find_module(prepared.model, info.layer), _ACTIVATIONS) and info.channels is not None
        ]
        if not found:
            raise InvalidArgumentError(f"the model ({prepared.name}) has no activation-function modules")
        return found
    chosen = facts.in_depth_order(prepared, [layers] if isinstance(layers, str) else list(layers))
    table = {info.layer: info for info in prepared.layers()}
    for name in chosen:
        if name in table and table[name].channels is None:
            raise InvalidArgumentError(
                f"layer {name!r} has no channels to diagnose (output shape {table[name].shape})"
            )
    return chosen


def _last_modules(prepared: Prepared, layers: list[str], size: tuple[int, int]) -> dict[str, nn.Module]:
    """The module each layer's output last came out of, from one forward pass of a grey image: the
    last module to finish inside the layer that does work (one without submodules, or with
    parameters of its own such as a fused BatchNormAct2d), skipping modules that pass values
    through (Identity, dropout); the layer itself when none does. A residual sum or any other
    operation written in ``forward`` after it is not a module: the data check in :class:`_Stats`
    catches a rectifier followed by one."""
    model = prepared.model
    owners: dict[nn.Module, list[str]] = {}
    for name in layers:
        for _, inner in find_module(model, name).named_modules():
            owners.setdefault(inner, []).append(name)
    last: dict[str, nn.Module] = {}
    active: set[str] = set()
    layer_of = {find_module(model, name): name for name in layers}
    found = [0]  # modules recorded so far
    started: dict[nn.Module, list[int]] = {}

    def pre_hook(module: nn.Module, inputs: object) -> None:
        started.setdefault(module, []).append(found[0])
        if module in layer_of:
            active.add(layer_of[module])

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        since = started[module].pop()
        own = any(True for _ in module.parameters(recurse=False))
        works = own or not any(True for _ in module.children())
        through = isinstance(module, _PASS_THROUGH) or type(module).__name__ in _PASS_THROUGH_NAMES
        # a fused module (BatchNormAct2d) runs its own work, then its children: a child that did
        # work (its .act) came last
        if works and not through and found[0] == since:
            for name in owners[module]:
                if name in active:
                    last[name] = module
            found[0] += 1
        if module in layer_of:
            active.discard(layer_of[module])

    grey = torch.full((1, 3, *size), 0.5)
    with scoped_hooks(owners, pre_hook, hook):
        prepared.activations(grey, layers, batch=1)
    return {name: last.get(name, find_module(model, name)) for name in layers}


def _sweep(
    prepared: Prepared,
    source: _Images,
    layers: list[str],
    batch: int,
    progress: bool,
    desc: str,
    visit: Callable[[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]], None] | None = None,
) -> dict[str, torch.Tensor]:
    """One pass over the images, batch by batch: ``visit(images, labels, activations)`` for each
    batch, and every layer's pooled features ``(images, channels)`` at the end."""
    pooled: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    bar = frame.progress(len(source), desc, progress, unit="image")
    with bar:
        for x, y in source.batches(batch):
            acts = prepared.activations(x, layers, batch=len(x))
            for name in layers:
                pooled[name].append(_pool(acts[name]).cpu())
            if visit is not None:
                visit(x, y, acts)
            bar.update(len(x))
    return {name: torch.cat(parts) for name, parts in pooled.items()}


def _pool(act: torch.Tensor) -> torch.Tensor:
    """``(B, C, ...)`` → ``(B, C)``: the mean over positions."""
    return act.flatten(2).mean(2) if act.dim() > 2 else act


# -- unit health ---------------------------------------------------------------------------------


class _Stats:
    """Per-channel running statistics of one layer over all images and positions, and what the
    layer's values last went through (``end``: the module its output came out of)."""

    def __init__(self, end: nn.Module) -> None:
        self.activation = type(end).__name__ if isinstance(end, _ACTIVATIONS) else "none"
        self.last_op = type(end).__name__
        # a rectifier: nothing below 0 by construction (a Hardtanh only when its floor is 0)
        self.rectifier = isinstance(end, nn.ReLU) or (isinstance(end, nn.Hardtanh) and end.min_val == 0)
        self.cap = float(end.max_val) if isinstance(end, nn.Hardtanh) else None  # ReLU6: 6
        self.count = 0
        self.images = 0
        self.sum: torch.Tensor | None = None
        self.sumsq: torch.Tensor | None = None
        self.max: torch.Tensor | None = None
        self.min = math.inf
        self.positive: torch.Tensor | None = None
        self.capped: torch.Tensor | None = None

    def add(self, act: torch.Tensor) -> None:
        values = act.detach().double().transpose(0, 1).flatten(1)  # (C, B * positions)
        positive = (values > 0).sum(1)
        capped = (values >= (self.cap - 1e-4)).sum(1) if self.cap is not None else torch.zeros_like(positive)
        if self.sum is None:
            self.sum, self.sumsq = values.sum(1), (values**2).sum(1)
            self.max, self.positive, self.capped = values.amax(1), positive, capped
        else:
            self.sum += values.sum(1)
            self.sumsq += (values**2).sum(1)  # type: ignore[operator]
            self.max = torch.maximum(self.max, values.amax(1))  # type: ignore[arg-type]
            self.positive += positive  # type: ignore[operator]
            self.capped += capped  # type: ignore[operator]
        self.min = min(self.min, float(values.min()))
        self.count += values.shape[1]
        self.images += act.shape[0]

    def health(self, name: str, prepared: Prepared, grads: _Gradients) -> LayerHealth:
        if self.sum is None or self.sumsq is None:
            raise InvalidArgumentError("no images were diagnosed")
        n = self.count
        mean = (self.sum / n).cpu()  # type: ignore[operator]
        total_mean = float(mean.mean())
        total_var = float((self.sumsq.sum() / (n * len(mean))) - total_mean**2)  # type: ignore[union-attr]
        positive = (self.positive.double() / n).cpu()  # type: ignore[union-attr]
        capped = (self.capped.double() / n).cpu()  # type: ignore[union-attr]
        maxima = self.max.cpu()  # type: ignore[union-attr]
        # "never positive" means dead only after a rectifier: a logit or a linear bottleneck can
        # be negative everywhere and still carry information. A value below 0 means something
        # ran after the rectifier (a residual sum in forward): not rectified either.
        rectified = self.rectifier and self.min >= 0
        capped_too = self.cap is not None and float(maxima.max()) <= self.cap + 1e-4
        dead = [int(c) for c in torch.nonzero(maxima <= 0).flatten()] if rectified else []
        saturated = [int(c) for c in torch.nonzero(capped >= SATURATED_SHARE).flatten()] if capped_too else []
        always_on = [int(c) for c in torch.nonzero(positive >= 1.0).flatten()] if rectified else []
        module = find_module(prepared.model, name)
        norm, param_grad = grads.of(name)
        weights = [p.detach().double().norm() ** 2 for p in module.parameters()]
        health = LayerHealth(
            layer=name,
            type=type(module).__name__,
            channels=len(mean),
            mean=total_mean,
            std=math.sqrt(max(total_var, 0.0)),
            sparsity=float(1 - positive.mean()),
            dead=dead,
            saturated=saturated,
            always_on=always_on,
            cap=self.cap if capped_too else None,
            channel_mean=mean.float(),
            channel_max=maxima.float(),
            positive_share=positive.float(),
            gradient_norm=norm,
            gradient_ratio=float("nan"),  # set once every layer is known
            parameter_gradient_norm=param_grad,
            weight_norm=float(sum(weights) ** 0.5) if weights else None,
            activation=self.activation,
            last_op=self.last_op,
            rectified=rectified,
            images=self.images,
            positions=n // self.images,
        )
        return health


def _warnings(layers: list[LayerHealth], images: int) -> list[str]:
    """What the reader must know before acting on the unit counts."""
    if images >= MIN_IMAGES or not any(layer.rectified for layer in layers):
        return []
    return [
        f"{images} images are too few to call a channel dead or always on: a channel never positive "
        f"on all {images} may still fire on up to {rate_bound(images):.1%} of images like them (95 % "
        "upper bound; about 3/N for N images, the rule of three), and the counts change with the image "
        "set. "
        f"Use at least {MIN_IMAGES} images (a bound of {rate_bound(MIN_IMAGES):.1%}) before pruning or "
        "reinitializing by these counts."
    ]


def _flags(health: LayerHealth, gradients: bool = True) -> list[str]:
    flags = []
    if health.dead:
        flags.append(
            f"{len(health.dead)} dead channel{'s' * (len(health.dead) > 1)} "
            f"(never positive on {health.images} images)"
        )
    if health.saturated:
        flags.append(f"{len(health.saturated)} saturated at the cap {health.cap:g}")
    if health.always_on:
        flags.append(f"{len(health.always_on)} always on")
    if not gradients:
        return flags
    if not math.isfinite(health.gradient_ratio):
        flags.append("non-finite gradient")
    elif health.gradient_ratio < VANISHING:
        flags.append(f"vanishing gradient ({health.gradient_ratio:.1e} of the deepest layer's)")
    elif health.gradient_ratio > EXPLODING:
        flags.append(f"exploding gradient ({health.gradient_ratio:.1e} times the deepest layer's)")
    return flags


# -- gradient health -----------------------------------------------------------------------------


class _Gradients:
    """Gradients of the mean loss over all images, accumulated batch by batch: with respect to
    each layer's output (squared norms add up over images) and each layer's parameters (the
    gradients add up, then the norm)."""

    def __init__(self, prepared: Prepared, layers: list[str]) -> None:
        self.prepared = prepared
        self.layers = layers
        self.modules = {name: find_module(prepared.model, name) for name in layers}
        self.squares = dict.fromkeys(layers, 0.0)
        self.output_square = 0.0
        self.params = {name: list(module.parameters()) for name, module in self.modules.items()}
        self.param_sums: dict[str, list[torch.Tensor] | None] = dict.fromkeys(layers)

    def add(self, images: torch.Tensor, labels: torch.Tensor | None, total: int) -> None:
        model = self.prepared.model
        with guarded(model), torch.enable_grad(), captured(self.modules) as outputs:
            for params in self.params.values():
                for p in params:
                    p.requires_grad_(True)  # guarded() puts every flag back afterwards
            x = self.prepared.model_input(images).requires_grad_(True)
            logits = first_tensor(self.prepared.run(x))
            if logits is None or logits.dim() != 2:
                raise InvalidArgumentError(
                    "gradient health needs class scores (batch, classes) from the model, got "
                    f"{None if logits is None else tuple(logits.shape)}"
                )
            logits = logits.float()
            if labels is None:
                target = logits.argmax(1)
            else:
                target = labels.to(logits.device)
                if int(target.max()) >= logits.shape[1]:
                    raise InvalidArgumentError(
                        f"a label is {int(target.max())} but the model has {logits.shape[1]} classes"
                    )
            loss = F.cross_entropy(logits, target, reduction="sum") / total
            present = [name for name in self.layers if name in outputs and outputs[name].requires_grad]
            flat_params = [p for name in present for p in self.params[name]]
            wanted = [logits, *(outputs[name] for name in present), *flat_params]
            grads = torch.autograd.grad(loss, wanted, allow_unused=True)
        self.output_square += float(grads[0].double().pow(2).sum())
        for i, name in enumerate(present):
            grad = grads[1 + i]
            if grad is not None:
                self.squares[name] += float(grad.double().pow(2).sum())
        offset = 1 + len(present)
        for name in present:
            count = len(self.params[name])
            part = [
                g.detach() if g is not None else torch.zeros_like(p)
                for g, p in zip(grads[offset : offset + count], self.params[name], strict=True)
            ]
            offset += count
            previous = self.param_sums[name]
            self.param_sums[name] = (
                part if previous is None else [a + b for a, b in zip(previous, part, strict=True)]
            )

    def output_norm(self) -> float:
        return math.sqrt(self.output_square)

    def of(self, name: str) -> tuple[float, float | None]:
        """The gradient norm at the layer's output and the norm of the gradient of the layer's
        parameters (None for a layer without parameters)."""
        norm = math.sqrt(self.squares[name])
        sums = self.param_sums[name]
        param = float(sum(float(g.double().pow(2).sum()) for g in sums) ** 0.5) if sums else None
        return norm, param


# -- transfer ------------------------------------------------------------------------------------


def _probe_all(
    diagnosis: Diagnosis, features: dict[str, torch.Tensor], labels: torch.Tensor, seed: int, progress: bool
) -> None:
    """A linear probe per layer on the same splits, and the advice they support (or none)."""
    results = {}
    with frame.progress(len(diagnosis.layers), "diagnose: probes", progress, unit="layer") as bar:
        for layer in diagnosis.layers:
            results[layer.layer] = linear_probe(features[layer.layer], labels, seed)
            bar.update()
    advice = freeze_advice(results)
    readable = {name: result for name, result in results.items() if advice.adjusted_p_values[name] < ALPHA}
    below = compare_to_best(readable).p_values if readable else {}
    for layer in diagnosis.layers:
        layer.probe = results[layer.layer]
        layer.probe_p_adjusted = advice.adjusted_p_values[layer.layer]
        layer.probe_p_below_best = below.get(layer.layer)
    diagnosis.probe_chance = advice.chance
    diagnosis.probe_seed = seed
    diagnosis.freeze_advice = advice
    diagnosis.freeze_up_to = advice.layer
    diagnosis.freeze_verdict, diagnosis.freeze_rule = _advice_text(diagnosis, advice, results)


def _advice_text(
    diagnosis: Diagnosis, advice: FreezeAdvice, results: dict[str, ProbeResult]
) -> tuple[str, str]:
    """The verdict (one sentence) and the reasoning with its numbers (``results``: each layer's probe)."""

    def read(name: str) -> str:
        result = results[name]
        return (
            f"accuracy {result.accuracy:.3f} (95 % CI {result.ci_low:.3f}–{result.ci_high:.3f}; "
            f"p = {advice.adjusted_p_values[name]:.2g} against chance, Holm-adjusted)"
        )

    top = max(diagnosis.layers, key=lambda layer: layer.probe_accuracy or 0.0)
    count = len(diagnosis.layers)
    if not advice.readable or advice.layer is None or advice.best is None:
        held = results[top.layer].n_test
        return "No layer reads these labels better than chance.", (
            f"No layer reads these labels better than chance ({advice.chance:.3f}, the most common "
            f"class's share): the best probe, at {top.layer}, has {read(top.layer)}, and no layer's "
            f"p-value is below {advice.alpha:g} after Holm's correction over {count} layer"
            f"{'s' * (count > 1)}. These images and labels give no evidence of where to freeze or cut "
            f"the network. If the labels should be readable, check them, or give more images ({held} "
            "are held out in each split now)."
        )
    chosen, best = advice.layer, advice.best
    reading = (
        f"{chosen} is the earliest layer that reads your labels better than chance and not "
        f"significantly worse than the best: {read(chosen)}"
    )
    if chosen != best:
        reading += (
            f", against {best}'s {read(best)}, {advice.difference:.3f} less (one-sided paired test over "
            f"the splits: p = {advice.difference_p_value:.2g})"
        )
    reading += f". The layers up to {chosen} carry what a linear head needs for this task: freeze them. "
    last = diagnosis.layers[-1]
    if last.layer == chosen:
        tail = "Only the last layer reads your labels this well: train a new head on its features."
    elif (last.probe_p_adjusted or 1.0) >= advice.alpha:
        tail = (
            f"The last layer ({last.layer}) does not read them better than chance: the layers after "
            f"{best} are specific to the original task, so fine-tune or replace them."
        )
    elif last.layer not in advice.not_worse:
        tail = (
            f"The last layer reads them significantly worse ({last.probe_accuracy:.3f}, p = "
            f"{last.probe_p_below_best:.2g} against {best}): the layers after {best} are specific to "
            "the original task, so fine-tune or replace them."
        )
    else:
        tail = (
            f"No later layer reads them significantly better: a head on {chosen}'s features is the "
            f"cheapest; freeze the later layers too, or cut the network at {chosen}."
        )
    return f"Freeze up to {chosen}.", reading + tail


def _compare(
    diagnosis: Diagnosis,
    features: dict[str, torch.Tensor],
    prepared: Prepared,
    source: _Images,
    batch: int,
    progress: bool,
) -> None:
    layers = _layers(prepared, None)
    theirs = _sweep(prepared, source, layers, batch, progress, "diagnose: compare")
    diagnosis.compare_model = prepared.name
    diagnosis.compare_layers = layers
    diagnosis.cka = torch.tensor(
        [[linear_cka(features[mine.layer], theirs[name]) for name in layers] for mine in diagnosis.layers]
    )


def _render_flagged(
    diagnosis: Diagnosis,
    prepared: Prepared,
    cache: RenderCache,
    top: int,
    steps: int,
    seed: int,
    progress: bool,
) -> None:
    """Up to ``top`` flagged channels per layer, rendered through one render queue."""
    renderer = CachedRenderer(prepared, cache, steps=steps, size=opts.EXPLAIN_SIZE, seed=seed, options={})
    queue = RenderQueue(renderer, progress, desc="diagnose: renders")
    wanted = [
        (layer, channel, queue.unit(f"{layer.layer}:{channel}"))
        for layer in diagnosis.layers
        for channel in list(dict.fromkeys(layer.dead + layer.saturated + layer.always_on))[:top]
    ]
    queue.run()
    for layer, channel, job in wanted:
        if job.found is not None:
            layer.renders[channel] = job.found


__all__ = ["diagnose", "Diagnosis", "LayerHealth", "MIN_IMAGES", "SATURATED_SHARE", "VANISHING", "EXPLODING"]
