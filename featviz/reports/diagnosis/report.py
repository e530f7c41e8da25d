"""``featviz.diagnose``: unit health, gradient health and transfer, layer by layer, on your images.

For each layer (default: every block output; ``layers="activations"`` for every activation
function), streaming over the images in batches:

1. **Unit health** — activation mean, standard deviation and sparsity (share of values ≤ 0);
   for rectified layers (a ReLU, ReLU6 or Hardtanh module, or a module whose ``act`` is one),
   *dead* channels (never positive on any position of any image) and *always-on* channels
   (positive everywhere: the unit never uses its nonlinearity); *saturated* channels (at the cap
   of a ReLU6/Hardtanh on at least :data:`SATURATED_SHARE` of the positions).
2. **Gradient health** — the gradient of the loss (cross-entropy with the labels, else the top
   logit's negative log-probability) with respect to each layer's output and parameters; the
   output gradient's norm as a ratio to the deepest diagnosed layer's: *vanishing* below
   :data:`VANISHING`, *exploding* above :data:`EXPLODING`; the parameters' norms.
3. **Transfer** — with labels, a linear probe per layer on pooled features (ridge regression to
   one-hot labels, closed form, on a held-out split) and the suggestion of where to stop freezing;
   with ``compare=``, linear CKA (Kornblith et al. 2019; unbiased HSIC) between every layer of
   the two models.

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
from featviz.analysis.probes import probe
from featviz.errors import InvalidArgumentError
from featviz.model import facts
from featviz.model.hooks import captured, find_module, first_tensor, guarded
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.cache import CachedRenderer, RenderCache, make_cache, model_fingerprint
from featviz.rendering.queue import RenderQueue
from featviz.reports import frame
from featviz.reports.diagnosis import page
from featviz.reports.diagnosis.record import (
    EXPLODING,
    SATURATED_SHARE,
    VANISHING,
    DiagnosisData,
    LayerHealth,
)

_RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.Hardtanh)
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
        >>> d.freeze_up_to, d.freeze_rule
        >>> d.save("diagnosis")             # diagnosis/index.html, diagnosis.json, charts

    Args:
        model: an ``nn.Module`` (left as it was), a zoo name or a prepared model.
        images: a folder of images (read batch by batch), or an ``(N, 3, H, W)`` tensor in [0, 1].
        labels: one class index per image; ``"folders"`` for a folder's subfolders (ImageFolder:
            sorted subfolder names are classes 0, 1, ...); None for no labels (no probes; the
            gradient is of the top class's negative log-probability).
        layers: layer names; ``"blocks"`` (default) for every block output; ``"activations"``
            for every activation function (where dead and saturated units live).
        compare: a second model (e.g. the fine-tuned copy) for linear CKA between the layers.
        batch: images per forward pass.
        size: the images' size (default: the model's input size).
        gradients: False skips the gradient pass (a backward pass per batch): no gradient health.
        render: render the flagged channels (at most ``top`` per layer) through the render cache.
        top, steps, cache, atlases, seed: of those renders (as in :func:`featviz.explain`).
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
    chosen = _layers(prepared, layers)
    other = None if compare is None else prepare(compare, preprocess=preprocess, device=prepared.device)  # type: ignore[arg-type]
    if other is not None and len(source) < 4:
        raise InvalidArgumentError(
            f"comparing with CKA needs at least 4 images (its unbiased estimator), got {len(source)}; "
            "give more images or leave compare out"
        )
    stats = {
        name: _Stats(_cap(find_module(prepared.model, name)), _rectified(prepared, name)) for name in chosen
    }
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
        settings={
            "batch": batch,
            "layers": layers if isinstance(layers, str) else "given" if layers else "blocks",
        },
        fingerprint=model_fingerprint(prepared),
    )
    if source.labels is not None:
        _probe_all(diagnosis, features, source.labels, seed)
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


def _cap(module: nn.Module) -> float | None:
    """The upper limit of the module's output (ReLU6: 6), also through a fused ``.act``."""
    for candidate in (module, getattr(module, "act", None)):
        if isinstance(candidate, nn.ReLU6):
            return 6.0
        if isinstance(candidate, nn.Hardtanh):
            return float(candidate.max_val)
    return None


def _rectified(prepared: Prepared, layer: str) -> bool:
    module = find_module(prepared.model, layer)
    return isinstance(module, _RECTIFIERS) or isinstance(getattr(module, "act", None), _RECTIFIERS)


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
    """Per-channel running statistics of one layer over all images and positions."""

    def __init__(self, cap: float | None, rectified: bool) -> None:
        self.cap = cap
        self.rectified = rectified
        self.count = 0
        self.sum: torch.Tensor | None = None
        self.sumsq: torch.Tensor | None = None
        self.max: torch.Tensor | None = None
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
        self.count += values.shape[1]

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
        # be negative everywhere and still carry information
        dead = [int(c) for c in torch.nonzero(maxima <= 0).flatten()] if self.rectified else []
        saturated = [int(c) for c in torch.nonzero(capped >= SATURATED_SHARE).flatten()] if self.cap else []
        always_on = [int(c) for c in torch.nonzero(positive >= 1.0).flatten()] if self.rectified else []
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
            cap=self.cap,
            channel_mean=mean.float(),
            channel_max=maxima.float(),
            positive_share=positive.float(),
            gradient_norm=norm,
            gradient_ratio=float("nan"),  # set once every layer is known
            parameter_gradient_norm=param_grad,
            weight_norm=float(sum(weights) ** 0.5) if weights else None,
        )
        return health


def _flags(health: LayerHealth, gradients: bool = True) -> list[str]:
    flags = []
    if health.dead:
        flags.append(f"{len(health.dead)} dead channel{'s' * (len(health.dead) > 1)}")
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
    diagnosis: Diagnosis, features: dict[str, torch.Tensor], labels: torch.Tensor, seed: int
) -> None:
    for layer in diagnosis.layers:
        accuracy, stderr, chance = probe(features[layer.layer], labels, seed)
        layer.probe_accuracy, layer.probe_stderr = accuracy, stderr
        diagnosis.probe_chance = chance
    best = max(diagnosis.layers, key=lambda layer: layer.probe_accuracy or 0.0)
    floor = (best.probe_accuracy or 0.0) - (best.probe_stderr or 0.0)
    chosen = next(layer for layer in diagnosis.layers if (layer.probe_accuracy or 0.0) >= floor)
    diagnosis.freeze_up_to = chosen.layer
    last = diagnosis.layers[-1]
    reading = (
        f"A linear probe reads your labels from {chosen.layer} with accuracy {chosen.probe_accuracy:.3f} "
        f"(the best is {best.probe_accuracy:.3f} ± {best.probe_stderr:.3f} at {best.layer}; chance "
        f"{diagnosis.probe_chance:.3f}); {chosen.layer} is the earliest layer within one standard error "
        "of the best, so the layers up to it carry what your task needs: freeze them. "
    )
    if chosen is last:
        advice = "Only the last layer reads your labels this well: train a new head on its features."
    elif (last.probe_accuracy or 0.0) < floor:
        advice = (
            f"The last layer reads them worse ({last.probe_accuracy:.3f}): the layers after {chosen.layer} "
            "are specific to the original task, so fine-tune or replace them."
        )
    else:
        advice = (
            f"The layers after {chosen.layer} read them as well but no better: they add nothing a linear "
            f"head needs for this task, so freeze them too (a head on {chosen.layer}'s features is the "
            "cheapest), or cut the network there."
        )
    diagnosis.freeze_rule = reading + advice


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


__all__ = ["diagnose", "Diagnosis", "LayerHealth", "SATURATED_SHARE", "VANISHING", "EXPLODING"]
