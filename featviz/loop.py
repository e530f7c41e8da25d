"""The render loop: gradient ascent on an image parameterization until a unit is excited.

Each step: ``images = param()``; ``x = preprocess(transforms(images))``; a forward pass that stops
after the deepest layer the objective needs; ``score = objective(acts)``;
``(-score.sum()).backward()``; ``optimizer.step()``. Only this module negates the score.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from featviz import rng
from featviz.errors import InvalidArgumentError, NonFiniteError
from featviz.hooks import Recorder, guarded, model_device
from featviz.io import load_images
from featviz.objectives import Objective, as_objective, from_targets
from featviz.param import ImageParam, MacoImage, composite, default_lr, make_param, normalize_size
from featviz.preprocess import resolve_preprocess
from featviz.redirect import RedirectedReLU
from featviz.result import RenderResult
from featviz.targets import INPUT, Target, parse_target
from featviz.transforms import Transform, Transforms, make_transforms, resize
from featviz.zoo import resolve_model

DEFAULT_STEPS = 384
# With alpha=True, full opacity costs this share of the score (see AlphaImage).
ALPHA_PENALTY = 0.3
# redirect_relu=True redirects ReLU gradients for this many first steps (see featviz.redirect).
DEFAULT_REDIRECT_STEPS = 16
# Transform parameters are drawn this many steps at a time (one call per image per block).
_SAMPLE_BLOCK = 256
# Images per chunk on CPU. A bare forward+backward of Lite0 at 224 px on 2 cores, image-steps/s
# over three interleaved rounds: up to blocks.4 -- batch 1: 21-24, 2: 23-30, 4: 23-34, 8: 16-19;
# up to blocks.1 -- batch 1: 51-60, 2: 45-73, 4: 51-71, 8: 27-36. Past 4, activations outgrow the
# caches.
CPU_BATCH_SIZE = 4

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
    transforms: str | Sequence[Transform | Callable[[torch.Tensor], torch.Tensor]] | None = "auto",
    preprocess: object = None,
    lr: float | None = None,
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
    seed: int | Sequence[int] = 0,
    thresholds: Iterable[int] = (),
    device: torch.device | str | None = None,
    batch_size: int | None = None,
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool = False,
    redirect_relu: bool | int = True,
    init: object = None,
    alpha: bool = False,
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
            image each.
        batch: number of images for a single target or Objective (each from its own seed);
            for lists it must equal the number of targets.
        steps: optimization steps.
        size: image size, ``224`` or ``(height, width)``; default: the model's input size.
            The image is resized to the model's input size before the forward pass.
        param: ``"fft"`` (default), ``"fft_rgb"``, ``"pixel"``, ``"pixel_rgb"``, or an
            :class:`~featviz.param.ImageParam` instance.
        transforms: ``"auto"`` (default: ``"multicrop"`` for ``param="maco"``, else
            ``"wide"``), ``"wide"``, ``"standard"``, ``"multicrop"``, ``"none"``, or a list of transforms /
            callables (see :mod:`featviz.transforms`).
        preprocess: the model's input normalization (see :mod:`featviz.preprocess`); default:
            from the model's metadata, else ImageNet mean/std.
        lr: Adam learning rate (default: the parameterization's, 0.025 for ``"fft"``; see
            ``ImageParam.default_lr``).
        optimizer: ``params -> torch.optim.Optimizer`` to use instead of Adam(lr).
        seed: an int, or one int per image; the same seed on the same device gives the same
            image, whatever else is in the batch and however the targets are chunked.
        thresholds: steps at which to keep snapshots of the images (``result.snapshots``).
        device: where to run (default: the model's device). A user's model on another device is
            copied there; the original is not moved.
        batch_size: most images optimized together. A list of targets longer than this is
            rendered in chunks (default: 8 on CPU; on CUDA, chosen from free memory). A CUDA
            out-of-memory error halves the chunk and carries on. A single Objective with
            ``batch=`` is never split, since its terms may couple the images (diversity).
        precision: ``"auto"`` (bf16 autocast for the model on CUDA where supported, else fp32),
            ``"fp32"`` or ``"bf16"``. Scores, gradients and image parameters stay fp32.
        channels_last: feed the model channels-last images (default: on CUDA only).
        compile: run the model through ``torch.compile``. The compiled graph cannot stop
            early, so the whole model runs; worth it on GPUs for long renders.
        redirect_relu: for the first steps, let gradient through ``nn.ReLU``/``nn.ReLU6``
            modules that are off for the whole image, so deep units do not stay grey (Lucid's
            gradient redirection; :mod:`featviz.redirect`). ``True`` = the first
            16 steps, an int = that many steps, ``False``/``0`` = never. The model is not modified.
        init: start from an image instead of noise: a file path, PIL image or ``(3, H, W)`` /
            ``(B, 3, H, W)`` tensor in [0, 1] (one image for all, or one per image); resized
            and center-cropped to ``size``. ``"fft"`` and ``"pixel"`` reproduce it exactly,
            ``"maco"`` keeps its phase only.
        alpha: also learn an opacity channel (:class:`~featviz.param.AlphaImage`): every step
            composites the image over a random background colour, and opacity costs
            ``ALPHA_PENALTY`` of the score, so what the unit does not need turns transparent.
            ``result.images`` are then ``(B, 4, H, W)`` RGBA; scores are measured over grey.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`~featviz.result.RenderResult`. Ctrl-C stops early and returns the partial result
        (``result.interrupted``): finished chunks plus the chunk in flight.

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
    if lr is None:
        lr = default_lr(param)
    if not isinstance(lr, (int, float)) or lr <= 0:
        raise InvalidArgumentError(f"lr must be a positive number, got {lr!r}")
    if not isinstance(redirect_relu, (bool, int)) or redirect_relu < 0:
        raise InvalidArgumentError(
            f"redirect_relu must be True, False or a number of steps, got {redirect_relu!r}"
        )
    redirect_steps = DEFAULT_REDIRECT_STEPS if redirect_relu is True else int(redirect_relu)
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise InvalidArgumentError(f"batch_size must be a positive int or None, got {batch_size!r}")
    model_name = model if isinstance(model, str) else type(model).__name__
    model = resolve_model(model, device)
    device = torch.device(device) if device is not None else model_device(model)
    if device.type == "cuda" and device.index is None:  # "cuda" means the current GPU
        device = torch.device("cuda", torch.cuda.current_device())
    if model_device(model) != device:
        model = copy.deepcopy(model).to(device)

    objective, targets, labels = _resolve_objective(target, channels, batch)
    n_images = len(labels)
    pre = resolve_preprocess(model, preprocess)
    image_size = normalize_size(size) if size is not None else (pre.input_size or (224, 224))
    if isinstance(param, ImageParam):  # a given parameterization fixes the size
        if size is not None and tuple(param.size) != image_size:
            raise InvalidArgumentError(
                f"param holds {tuple(param.size)} images but size={size!r}; "
                "leave size out or build the parameterization at that size"
            )
        image_size = (int(param.size[0]), int(param.size[1]))
    transforms = _auto_transforms(transforms, param)
    init_images = None if init is None else load_images(init, image_size)
    if init_images is not None and len(init_images) not in (1, n_images):
        raise InvalidArgumentError(
            f"init has {len(init_images)} images but the render makes {n_images}; give one image "
            "for all of them or one per image"
        )
    job = _Job(
        model=model,
        device=device,
        steps=steps,
        image_size=image_size,
        model_size=pre.input_size or image_size,
        param=param,
        pipeline=make_transforms(transforms).to(device),
        normalize=pre.module(device),
        make_optimizer=optimizer or (lambda params: torch.optim.Adam(params, lr=lr)),
        keep={int(t) for t in thresholds if 0 < int(t) <= steps},
        bf16=_use_bf16(precision, device),
        channels_last=device.type == "cuda" if channels_last is None else bool(channels_last),
        compile=bool(compile),
        redirect_steps=min(redirect_steps, steps),
        alpha=bool(alpha),
    )
    settings: dict[str, object] = {
        "model": model_name,
        "objective": repr(objective) if objective is not None else f"targets({', '.join(labels)})",
        "targets": labels,
        "steps": steps,
        "size": list(image_size),
        "model_input_size": list(job.model_size),
        "lr": lr,
        "param": param if isinstance(param, str) else repr(param),
        "transforms": transforms if isinstance(transforms, str) or transforms is None else repr(job.pipeline),
        "preprocess": pre.describe(),
        "seed": seed if isinstance(seed, int) else list(seed),
        "init": None if init is None else (str(init) if isinstance(init, (str, os.PathLike)) else "image"),
        "optimizer": "Adam" if optimizer is None else repr(optimizer),
        "device": str(device),
        "precision": "bf16" if job.bf16 else "fp32",
        "channels_last": job.channels_last,
        "compile": job.compile,
        "redirect_relu": job.redirect_steps,
        "alpha": job.alpha,
    }
    seeds = rng.image_seeds(seed, n_images)
    splittable = targets is not None and not isinstance(param, ImageParam)
    chunk_targets = targets or []
    if batch_size is None:
        batch_size = _default_batch_size(job, chunk_targets, labels, seeds) if splittable else n_images
    settings["batch_size"] = batch_size if splittable else n_images

    bar = tqdm(total=steps * n_images, disable=not progress, desc=_progress_label(labels), leave=False)
    parts: list[RenderResult] = []
    start = 0
    try:
        while start < n_images:
            stop = n_images if not splittable else min(n_images, start + batch_size)
            chunk = slice(start, stop)
            try:
                part = _run_chunk(
                    job,
                    objective if objective is not None else from_targets(chunk_targets[chunk]),
                    labels[chunk],
                    rng.ImageSeeds(seeds[chunk]),
                    bar,
                    init=_chunk_of(init_images, chunk),
                )
            except torch.OutOfMemoryError as error:
                if not splittable or stop - start == 1:
                    raise
                bar.reset(total=bar.total)  # recount: the chunk in flight starts over
                bar.update(steps * start)
                batch_size = max(1, (stop - start) // 2)
                settings["batch_size"] = batch_size
                warnings.warn(f"out of memory ({error}); retrying with batch_size={batch_size}", stacklevel=2)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            parts.append(part)
            start = stop
            if part.interrupted:
                break
    finally:
        bar.close()
    return _merge(parts, settings)


@dataclass
class _Job:
    """Everything a chunk needs that does not depend on which images it holds."""

    model: nn.Module
    device: torch.device
    steps: int
    image_size: tuple[int, int]
    model_size: tuple[int, int]
    param: str | ImageParam
    pipeline: Transforms
    normalize: nn.Module
    make_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
    keep: set[int]
    bf16: bool
    channels_last: bool
    compile: bool
    redirect_steps: int = 0
    alpha: bool = False


def _chunk_of(images: torch.Tensor | None, chunk: slice) -> torch.Tensor | None:
    """The init images of a chunk: its own slice, or the one image shared by all."""
    if images is None or len(images) == 1:
        return images
    return images[chunk]


TransformsArg = str | Sequence[Transform | Callable[[torch.Tensor], torch.Tensor]] | None


def _auto_transforms(transforms: TransformsArg, param: object) -> TransformsArg:
    """``"auto"``: the transforms the parameterization was designed with."""
    if transforms != "auto":
        return transforms
    return "multicrop" if param == "maco" or isinstance(param, MacoImage) else "wide"


def _use_bf16(precision: str, device: torch.device) -> bool:
    if precision not in ("auto", "fp32", "bf16"):
        raise InvalidArgumentError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def _run_chunk(
    job: _Job,
    objective: Objective,
    labels: list[str],
    seeds: rng.ImageSeeds,
    bar: tqdm,
    init: torch.Tensor | None = None,
) -> RenderResult:
    """Optimize one batch of images; the model is guarded and hooked for this chunk only."""
    n_images = len(labels)
    image = make_param(job.param, job.image_size, n_images, seeds, alpha=job.alpha).to(job.device)
    if init is not None:
        image.set_image(init.expand(n_images, -1, -1, -1).to(job.device))
    model = job.model
    with guarded(model), Recorder(model, objective.layers, stop_early=not job.compile) as recorder:
        if job.compile:
            recorder.model = torch.compile(model)
        autocast = torch.autocast(job.device.type, dtype=torch.bfloat16, enabled=job.bf16)

        def forward(images: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
            x = job.normalize(x)
            if job.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                acts = recorder.run(x)
            acts = {k: v.float() for k, v in acts.items()}
            acts[INPUT] = images
            return acts

        def evaluate(check: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad():
                images = image()
                flat = composite(images, 0.5)
                acts = forward(flat, resize(flat, job.model_size))
                if check:
                    objective.validate({k: tuple(v.shape[1:]) for k, v in acts.items()})
                return images, objective(acts)

        # A first pass on the initial image checks layers, channels and the score's shape
        # before any optimization.
        _, probe_scores = evaluate(check=True)
        _check_scores(probe_scores, n_images, objective)

        opt = job.make_optimizer(image.parameters())
        history: list[torch.Tensor] = []
        snapshots: dict[int, torch.Tensor] = {}
        skipped = torch.zeros(n_images, dtype=torch.long, device=job.device)
        attribution = torch.zeros(n_images, 1, *job.image_size, device=job.device)
        interrupted = False
        redirect = RedirectedReLU(model)
        start = time.perf_counter()
        try:
            if job.redirect_steps:
                redirect.__enter__()
            for step in range(job.steps):
                if step == job.redirect_steps:
                    redirect.__exit__()
                if step % _SAMPLE_BLOCK == 0:
                    count = min(_SAMPLE_BLOCK, job.steps - step)
                    block = _to_device(job.pipeline.sample(seeds, count), job.device)
                    if job.alpha:
                        backgrounds = _to_device(_background_colours(seeds, step, count), job.device)
                opt.zero_grad(set_to_none=True)
                images = image()
                images.retain_grad()
                flat = images if not job.alpha else composite(images, backgrounds[step % _SAMPLE_BLOCK])
                acts = forward(flat, job.pipeline(flat, block[step % _SAMPLE_BLOCK], job.model_size))
                scores = _score_views(objective, acts, job.pipeline.views, n_images)
                total = scores
                if job.alpha:
                    opacity = images[:, 3].flatten(1).mean(1)
                    total = scores - ALPHA_PENALTY * opacity * scores.detach().abs().clamp(min=1e-3)
                (-total.sum()).backward()
                if images.grad is not None:
                    attribution += images.grad.detach().abs().sum(1, keepdim=True).nan_to_num(0.0, 0.0, 0.0)
                skipped += _drop_nonfinite(image, scores)
                opt.step()
                history.append(scores.detach())
                bar.update(n_images)
                if step + 1 in job.keep:
                    snapshots[step + 1] = image().detach().cpu()
                    bar.set_postfix(score=f"{scores.detach().mean().item():.3g}")
        except KeyboardInterrupt:
            interrupted = True
        finally:
            redirect.__exit__()
        if job.device.type == "cuda":  # once per chunk: the queued steps belong to its time
            torch.cuda.synchronize(job.device)
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
        settings={},
        snapshots=snapshots,
        steps_done=steps_done,
        interrupted=interrupted,
        skipped_steps=skipped,
        seconds=seconds,
        attribution=_normalized(attribution).cpu(),
    )


def _normalized(attribution: torch.Tensor) -> torch.Tensor:
    """Each image's accumulated gradient magnitude scaled to [0, 1] by its own maximum."""
    peak = attribution.flatten(1).amax(1).clamp(min=1e-12).view(-1, 1, 1, 1)
    return attribution / peak


def _score_views(
    objective: Objective, acts: dict[str, torch.Tensor], views: int, n_images: int
) -> torch.Tensor:
    """Each image's score averaged over its transformed views (rows are view-major)."""
    if views == 1:
        return objective(acts)
    total = objective({k: v if k == INPUT else v[:n_images] for k, v in acts.items()})
    for view in range(1, views):
        rows = slice(view * n_images, (view + 1) * n_images)
        total = total + objective({k: v if k == INPUT else v[rows] for k, v in acts.items()})
    return total / views


def _background_colours(seeds: rng.ImageSeeds, first: int, count: int) -> torch.Tensor:
    """Random background colours ``(count, B, 3, 1, 1)`` for steps ``first..``, per image seeded."""
    colours = []
    for seed in seeds:
        gen = rng.generator(rng.image_seed(seed, first), rng.BACKGROUNDS)
        colours.append(torch.rand(count, 3, 1, 1, generator=gen))
    return torch.stack(colours, dim=1)


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy to ``device``; to a GPU from pinned memory, so the host does not wait for it."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def _merge(parts: list[RenderResult], settings: dict[str, object]) -> RenderResult:
    """One result from the chunks, in target order; an interrupted chunk's history is NaN-padded."""
    steps = max(part.history.shape[0] for part in parts)

    def padded(history: torch.Tensor) -> torch.Tensor:
        missing = steps - history.shape[0]
        return torch.cat([history, history.new_full((missing, history.shape[1]), float("nan"))])

    snapshots = {
        step: torch.cat([part.snapshots[step] for part in parts])
        for step in parts[0].snapshots
        if all(step in part.snapshots for part in parts)
    }
    skipped = [part.skipped_steps for part in parts if part.skipped_steps is not None]
    return RenderResult(
        images=torch.cat([part.images for part in parts]),
        scores=torch.cat([part.scores for part in parts]),
        history=torch.cat([padded(part.history) for part in parts], dim=1),
        targets=[label for part in parts for label in part.targets],
        objective=str(settings["objective"]),
        settings=settings,
        snapshots=snapshots,
        steps_done=min(part.steps_done for part in parts),
        interrupted=any(part.interrupted for part in parts),
        skipped_steps=torch.cat(skipped) if skipped else None,
        seconds=sum(part.seconds for part in parts),
        attribution=_merged_attribution(parts),
    )


def _merged_attribution(parts: list[RenderResult]) -> torch.Tensor | None:
    maps = [part.attribution for part in parts if part.attribution is not None]
    return torch.cat(maps) if len(maps) == len(parts) else None


def _default_batch_size(job: _Job, targets: list[Target], labels: list[str], seeds: rng.ImageSeeds) -> int:
    """CPU: :data:`CPU_BATCH_SIZE`. CUDA: from a one-step memory probe at batch 2 and the free
    memory, capped at 256."""
    n_images = len(labels)
    if job.device.type != "cuda":
        return min(n_images, CPU_BATCH_SIZE)
    probe = min(2, n_images)
    free, _ = torch.cuda.mem_get_info(job.device)
    torch.cuda.synchronize(job.device)
    torch.cuda.reset_peak_memory_stats(job.device)
    before = torch.cuda.memory_allocated(job.device)
    probe_job = dataclasses.replace(job, steps=1, keep=set())
    with tqdm(disable=True) as quiet:
        _run_chunk(
            probe_job, from_targets(targets[:probe]), labels[:probe], rng.ImageSeeds(seeds[:probe]), quiet
        )
    per_image = max(1, (torch.cuda.max_memory_allocated(job.device) - before) // probe)
    return choose_batch_size(free, per_image, n_images)


def choose_batch_size(free_bytes: int, per_image_bytes: int, n_images: int, cap: int = 256) -> int:
    """The largest power of two whose images fit in 70% of the free memory (at least 1).

    Example:
        >>> choose_batch_size(free_bytes=8 * 2**30, per_image_bytes=40 * 2**20, n_images=1000)
        128
    """
    fits = max(1, int(0.7 * free_bytes) // max(1, per_image_bytes))
    size = 1
    while size * 2 <= min(fits, cap):
        size *= 2
    return max(1, min(size, n_images))


def _resolve_objective(
    target: TargetLike | Sequence[str | Target],
    channels: Iterable[int] | None,
    batch: int | None,
) -> tuple[Objective | None, list[Target] | None, list[str]]:
    """A single objective (or None) and the target list (or None), plus one label per image."""
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
        return objective, None, [label] * (batch or 1)
    if not isinstance(target, Sequence) or isinstance(target, (bytes, bytearray)):
        raise InvalidArgumentError(
            f"target must be a target string, an Objective, or a list of target strings; got "
            f"{type(target).__name__}"
        )
    parsed = [parse_target(t) for t in target]
    if not parsed:
        raise InvalidArgumentError("expected at least one target, got an empty list")
    labels = [str(t) for t in parsed]
    if batch is not None and batch != len(labels):
        raise InvalidArgumentError(
            f"batch={batch} but {len(labels)} targets were given; a list of targets renders one "
            "image per target, so leave batch out"
        )
    return None, parsed, labels


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
