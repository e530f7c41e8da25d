"""The render loop: gradient ascent on an image parameterization until a unit is excited.

Each step: ``images = param()``; ``x = preprocess(transforms(images))``; a forward pass that stops
after the deepest layer the objective needs; ``score = objective(acts)``;
``(-score.sum()).backward()``; ``optimizer.step()``. Only this module negates the score.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from featviz import rng
from featviz.errors import InvalidArgumentError, NonFiniteError
from featviz.hooks import Recorder, guarded, model_device
from featviz.objectives import Objective, as_objective, from_targets
from featviz.param import ImageParam, make_param, normalize_size
from featviz.preprocess import resolve_preprocess
from featviz.result import RenderResult
from featviz.targets import INPUT, Target, parse_target
from featviz.transforms import Transform, make_transforms, resize
from featviz.zoo import resolve_model

DEFAULT_STEPS = 256
DEFAULT_LR = 0.05
# Transform parameters are drawn this many steps at a time (one call per image per block).
_SAMPLE_BLOCK = 256

TargetLike = str | Target | Objective


def render(
    model: nn.Module | str,
    target: TargetLike | Sequence[str | Target],
    *,
    channels: Iterable[int] | None = None,
    batch: int | None = None,
    steps: int = DEFAULT_STEPS,
    size: int | tuple[int, int] | None = None,
    param: str | ImageParam = "fft",
    transforms: str | Sequence[Transform | Callable[[torch.Tensor], torch.Tensor]] | None = "standard",
    preprocess: object = None,
    lr: float = DEFAULT_LR,
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
    seed: int | Sequence[int] = 0,
    thresholds: Iterable[int] = (),
    device: torch.device | str | None = None,
    progress: bool = True,
) -> RenderResult:
    """Optimize images that maximize a unit of ``model``.

    Example:
        >>> result = featviz.render("efficientnet_lite0", "blocks.4:12")
        >>> result.save("blocks4_12.png")
        >>> atlas = featviz.render(model, "layer3", channels=range(16))   # 16 images, one pass

    Args:
        model: an ``nn.Module`` (left exactly as it was) or a zoo name such as
            ``"efficientnet_lite0"`` (see :func:`featviz.load_model`).
        target: what to maximize — a target string (``"layer4:12"``, ``"layer4"``,
            ``"output:207"``, ``"layer4:12@center"``; see :mod:`featviz.targets`), an
            :class:`~featviz.objectives.Objective`, or a list of target strings (image *i*
            pursues target *i*).
        channels: with a layer target such as ``"layer4"``: render these channels of it, one
            image each, in one batch.
        batch: number of images for a single target or Objective (each from its own seed);
            for lists it must equal the number of targets.
        steps: optimization steps.
        size: image size, ``224`` or ``(height, width)``; default: the model's input size.
            The image is resized to the model's input size before the forward pass.
        param: ``"fft"`` (default), ``"fft_rgb"``, ``"pixel"``, ``"pixel_rgb"``, or an
            :class:`~featviz.param.ImageParam` instance.
        transforms: ``"standard"`` (default), ``"none"``, or a list of transforms / callables.
        preprocess: the model's input normalization (see :mod:`featviz.preprocess`); default:
            from the model's metadata, else ImageNet mean/std.
        lr: Adam learning rate.
        optimizer: ``params -> torch.optim.Optimizer`` to use instead of Adam(lr).
        seed: an int, or one int per image; the same seed on the same device gives the same image.
        thresholds: steps at which to keep snapshots of the images (``result.snapshots``).
        device: where to run (default: the model's device). A user's model on another device is
            copied there; the original is not moved.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`~featviz.result.RenderResult`. Ctrl-C stops early and returns the partial result
        (``result.interrupted``).

    Raises:
        TargetSyntaxError: a malformed target string.
        LayerNotFoundError: the model has no such layer (close matches are suggested).
        ChannelOutOfRangeError: a channel or position outside the layer.
        NonFiniteError: an image's score was never finite, or the final image is not.
        InvalidArgumentError: any other unusable argument.
        ModelLoadError: a zoo model could not be loaded.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise InvalidArgumentError(f"steps must be a non-negative int, got {steps!r}")
    if not isinstance(lr, (int, float)) or lr <= 0:
        raise InvalidArgumentError(f"lr must be a positive number, got {lr!r}")
    model_name = model if isinstance(model, str) else type(model).__name__
    model = resolve_model(model, device)
    if device is None:
        device = model_device(model)
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:  # "cuda" means the current GPU
        device = torch.device("cuda", torch.cuda.current_device())
    if model_device(model) != device:
        model = copy.deepcopy(model).to(device)

    objective, labels = _resolve_objective(target, channels, batch)
    n_images = len(labels)
    pre = resolve_preprocess(model, preprocess)
    image_size = normalize_size(size) if size is not None else (pre.input_size or (224, 224))
    model_size = pre.input_size or image_size
    seeds = rng.image_seeds(seed, n_images)
    image = make_param(param, image_size, n_images, seed).to(device)
    pipeline = make_transforms(transforms).to(device)
    normalize = pre.module(device)
    keep = {int(t) for t in thresholds if 0 < int(t) <= steps}

    settings: dict[str, object] = {
        "model": model_name,
        "objective": repr(objective),
        "targets": labels,
        "steps": steps,
        "size": list(image.size),
        "model_input_size": list(model_size),
        "lr": lr,
        "param": param if isinstance(param, str) else repr(param),
        "transforms": transforms if isinstance(transforms, str) or transforms is None else repr(pipeline),
        "preprocess": pre.describe(),
        "seed": seed if isinstance(seed, int) else list(seed),
        "optimizer": "Adam" if optimizer is None else repr(optimizer),
        "device": str(device),
    }

    with guarded(model), Recorder(model, objective.layers) as recorder:

        def evaluate(check: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad():
                images = image()
                acts = recorder.run(normalize(resize(images, model_size)))
                acts[INPUT] = images
                if check:
                    objective.validate({k: tuple(v.shape[1:]) for k, v in acts.items()})
                return images, objective(acts)

        # A first pass on the initial image checks layers, channels and the score's shape
        # before any optimization.
        _, probe_scores = evaluate(check=True)
        _check_scores(probe_scores, n_images, objective)

        opt = optimizer(image.parameters()) if optimizer else torch.optim.Adam(image.parameters(), lr=lr)
        history: list[torch.Tensor] = []
        snapshots: dict[int, torch.Tensor] = {}
        skipped = torch.zeros(n_images, dtype=torch.long, device=device)
        interrupted = False
        start = time.perf_counter()
        bar = tqdm(total=steps, disable=not progress, desc=_progress_label(labels), leave=False)
        try:
            for step in range(steps):
                if step % _SAMPLE_BLOCK == 0:
                    block = pipeline.sample(seeds, min(_SAMPLE_BLOCK, steps - step)).to(device)
                opt.zero_grad(set_to_none=True)
                images = image()
                acts = recorder.run(normalize(pipeline(images, block[step % _SAMPLE_BLOCK], model_size)))
                acts[INPUT] = images
                scores = objective(acts)
                (-scores.sum()).backward()
                skipped += _drop_nonfinite(image, scores)
                opt.step()
                history.append(scores.detach())
                bar.update(1)
                if step + 1 in keep:
                    snapshots[step + 1] = image().detach().cpu()
                    bar.set_postfix(score=f"{scores.detach().mean().item():.3g}")
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
        seconds = time.perf_counter() - start

        final_images, final_scores = evaluate()

    steps_done = len(history)
    skipped = skipped.cpu()
    _check_finite(final_images, final_scores, skipped, steps_done, labels)
    return RenderResult(
        images=final_images.detach().float().cpu(),
        scores=final_scores.detach().float().cpu(),
        history=torch.stack(history).float().cpu() if history else torch.empty(0, n_images),
        targets=labels,
        objective=repr(objective),
        settings=settings,
        snapshots=snapshots,
        steps_done=steps_done,
        interrupted=interrupted,
        skipped_steps=skipped,
        seconds=seconds,
    )


def _resolve_objective(
    target: TargetLike | Sequence[str | Target],
    channels: Iterable[int] | None,
    batch: int | None,
) -> tuple[Objective, list[str]]:
    """The objective to maximize and one label per image."""
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise InvalidArgumentError(f"batch must be a positive int, got {batch!r}")
    if channels is not None:
        if not isinstance(target, (str, Target)):
            raise InvalidArgumentError(
                f"channels= needs a layer target such as 'layer4', got {type(target).__name__}"
            )
        layer = parse_target(target)
        if layer.channel is not None:
            raise InvalidArgumentError(
                f"channels= needs a whole-layer target such as {layer.layer!r}, got "
                f"{str(layer)!r} which already names a channel"
            )
        channel_list = [int(c) for c in channels]
        target = [Target(layer.layer, c) for c in channel_list]
    if isinstance(target, (str, Target, Objective)):
        objective = as_objective(target)
        label = str(parse_target(target)) if not isinstance(target, Objective) else repr(target)
        return objective, [label] * (batch or 1)
    if not isinstance(target, Sequence) or isinstance(target, (bytes, bytearray)):
        raise InvalidArgumentError(
            f"target must be a target string, an Objective, or a list of target strings; got "
            f"{type(target).__name__}"
        )
    objective = from_targets(list(target))
    labels = [str(parse_target(t)) for t in target]
    if batch is not None and batch != len(labels):
        raise InvalidArgumentError(
            f"batch={batch} but {len(labels)} targets were given; a list of targets renders one "
            "image per target, so leave batch out"
        )
    return objective, labels


def _check_scores(scores: torch.Tensor, n_images: int, objective: Objective) -> None:
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (n_images,):
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise InvalidArgumentError(
            f"objective {objective!r} returned shape {shape}, expected one score per image "
            f"({n_images},); reduce over every dimension but the batch"
        )


def _drop_nonfinite(image: ImageParam, scores: torch.Tensor) -> torch.Tensor:
    """Zero the gradients of images whose score or gradient is not finite; return that mask.

    No host-device synchronization: the mask stays on the device.
    """
    bad = ~torch.isfinite(scores.detach())
    for param in image.parameters():
        if param.grad is None:
            continue
        if param.dim() > 0 and param.shape[0] == bad.shape[0]:
            bad = bad | ~torch.isfinite(param.grad).flatten(1).all(1)
        else:
            bad = bad | ~torch.isfinite(param.grad).all()
    for param in image.parameters():
        if param.grad is None:
            continue
        if param.dim() > 0 and param.shape[0] == bad.shape[0]:
            keep = (~bad).view(-1, *([1] * (param.dim() - 1)))
        else:
            keep = ~bad.any()
        param.grad = torch.where(keep, param.grad, torch.zeros_like(param.grad))
    return bad.long()


def _check_finite(
    images: torch.Tensor,
    scores: torch.Tensor,
    skipped: torch.Tensor,
    steps_done: int,
    labels: list[str],
) -> None:
    never = [labels[i] for i in range(len(labels)) if steps_done and skipped[i] == steps_done]
    broken = [
        labels[i]
        for i in range(len(labels))
        if not torch.isfinite(images[i]).all() or not torch.isfinite(scores[i])
    ]
    if never or broken:
        which = never or broken
        raise NonFiniteError(
            f"the objective produced NaN or infinite values for {which} "
            f"({'at every step' if never else 'on the final image'}). Check that the model gives "
            "finite outputs for images in [0, 1] after preprocessing, lower lr, or remove "
            "objective terms that can divide by zero."
        )


def _progress_label(labels: list[str]) -> str:
    if len(labels) == 1:
        return labels[0]
    return f"{len(labels)} images"
