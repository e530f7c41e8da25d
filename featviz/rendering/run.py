"""``featviz.render``: resolve the arguments → split the images into chunks → optimize → merge.

The module is called ``run`` because a submodule named ``render`` would shadow the function
``featviz.render`` once imported. The resolved render is a :class:`~featviz.rendering.plan.Plan`;
the optimization of one chunk lives in :mod:`featviz.rendering.optimize`; the defaults of every
option in :mod:`featviz.options`; the batch size choice in :mod:`featviz.rendering.batching`.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from featviz import options as opts
from featviz import rng
from featviz.errors import InvalidArgumentError
from featviz.imaging import load_images, normalize_size
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.objectives import Objective, unit
from featviz.rendering.param import ImageParam, default_lr, default_transforms
from featviz.rendering.plan import Plan, Request
from featviz.rendering.result import RenderResult
from featviz.rendering.transforms import make_transforms
from featviz.targets import Target, parse_target

TargetLike = str | Target | Objective


def render(
    model: nn.Module | str | Prepared,
    target: TargetLike | Sequence[str | Target],
    *,
    channels: Iterable[int] | None = None,
    batch: int | None = None,
    **options: Any,  # noqa: ANN401 - the options of featviz.options, checked by name
) -> RenderResult:
    """Optimize images that maximize a unit of ``model``.

        Example:
            >>> result = featviz.render("efficientnet_lite0", "blocks.4:12")
            >>> result.save("blocks4_12.png")
            >>> atlas = featviz.render(model, "layer3", channels=range(16))   # 16 images, one pass

        Args:
            model: an ``nn.Module`` (left exactly as it was), a zoo name such as
                ``"efficientnet_lite0"`` (see :func:`featviz.load_model`) or a prepared model
                (:func:`featviz.prepare`).
            target: what to maximize — a target string (``"layer4:12"``, ``"layer4"``,
                ``"output:207"``, ``"layer4:12@center"``; see :mod:`featviz.targets`), an
                :class:`~featviz.objectives.Objective`, or a list of target strings (image *i*
                pursues target *i*).
            channels: with a layer target such as ``"layer4"``: render these channels of it, one
                image each.
            batch: number of images for a single target or Objective (each from its own seed);
                for lists it must equal the number of targets.
    {options}

        Returns:
            A :class:`~featviz.rendering.result.RenderResult`. Ctrl-C stops early and returns the
            partial result (``result.interrupted``): finished chunks plus the chunk in flight.

        Raises:
            TargetSyntaxError: a malformed target string.
            LayerNotFoundError: the model has no such layer (close matches are suggested).
            ChannelOutOfRangeError: a channel or position outside the layer.
            NonFiniteError: an image's score was never finite, or the final image is not.
            DeviceError: a device this machine does not have.
            InvalidArgumentError: any other unusable argument.
            ModelLoadError: a zoo model could not be loaded.
    """
    from featviz.rendering.optimize import optimize

    given = opts.from_keywords(options)
    prepared = prepare(model, preprocess=given.preprocess, device=given.device, layouts=given.layouts)
    plan = make_plan(prepared, resolve_targets(target, channels, batch, given.renders), given)
    bar = tqdm(total=plan.steps * plan.n_images, disable=not given.progress, desc=plan.label, leave=False)
    parts: list[RenderResult] = []
    with bar:
        start, size = 0, plan.batch_size
        while start < plan.n_images:
            stop = min(plan.n_images, start + size)
            try:
                part = optimize(plan, slice(start, stop), bar)
            except torch.OutOfMemoryError as error:
                size = _after_out_of_memory(plan, error, start, stop, bar)
                continue
            parts.append(part)
            start = stop
            if part.interrupted:
                break
    return merge(parts, plan.settings)


# The options' keywords, defaults and annotations come from the table (help() and IDEs show them).
_signature = inspect.signature(render)
render.__signature__ = _signature.replace(  # type: ignore[attr-defined]
    parameters=[
        *list(_signature.parameters.values())[:-1],
        *(
            inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default, annotation=o.kind)
            for o in opts.OPTIONS
        ),
    ]
)
render.__doc__ = (render.__doc__ or "").replace("{options}", opts.docstring_args())


def resolve_targets(
    target: TargetLike | Sequence[str | Target],
    channels: Iterable[int] | None,
    batch: int | None,
    renders: int = 1,
) -> Request:
    """Parse ``target`` (with ``channels=`` / ``batch=`` / ``renders=``) into a :class:`Request`.

    Raises:
        TargetSyntaxError: a malformed target string.
        InvalidArgumentError: ``channels`` without a whole-layer target, a bad ``batch`` or
            ``renders``, an empty list, or a value of another kind.
    """
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise InvalidArgumentError(f"batch must be a positive int, got {batch!r}")
    if not isinstance(renders, int) or isinstance(renders, bool) or renders < 1:
        raise InvalidArgumentError(f"renders must be a positive int, got {renders!r}")
    if channels is not None:
        layer = parse_target(target) if isinstance(target, (str, Target)) else None
        if layer is None or layer.channel is not None:
            what = f"{str(layer)!r}, which already names a channel" if layer else type(target).__name__
            raise InvalidArgumentError(f"channels= needs a whole-layer target such as 'layer4', got {what}")
        target = [Target(layer.layer, int(c)) for c in channels]
    n = (batch or 1) * renders
    if isinstance(target, Objective):  # its own per-image meaning: only renders= makes groups
        return Request(target, None, [repr(target)] * n, renders)
    if isinstance(target, (str, Target)):
        parsed = parse_target(target)
        return Request(unit(parsed), None, [str(parsed)] * n, n)
    if not isinstance(target, Sequence) or isinstance(target, (bytes, bytearray)):
        raise InvalidArgumentError(
            f"target must be a target string, an Objective, or a list of target strings; got "
            f"{type(target).__name__}"
        )
    targets = [parse_target(t) for t in target]
    if not targets:
        raise InvalidArgumentError("expected at least one target, got an empty list")
    if batch is not None and batch != len(targets):
        raise InvalidArgumentError(
            f"batch={batch} but {len(targets)} targets were given; a list of targets renders one "
            "image per target, so leave batch out"
        )
    targets = [t for t in targets for _ in range(renders)]
    return Request(None, targets, [str(t) for t in targets], renders)


def make_plan(prepared: Prepared, request: Request, given: Any) -> Plan:  # noqa: ANN401 - RenderOptions
    """Resolve every option against the prepared model (one small resolver per option)."""
    from featviz.rendering.batching import default_batch_size

    steps = _steps(given.steps)
    image_size = _image_size(given.size, given.param, prepared)
    lr = _lr(given.lr, given.param)
    transforms = given.transforms
    if transforms == "auto":  # the transforms the parameterization was designed with
        transforms = default_transforms(given.param)
    device = prepared.device
    n_images = len(request.labels)
    diversity = _diversity(given.diversity)
    plan = Plan(
        prepared=prepared,
        request=request,
        seeds=rng.image_seeds(given.seed, n_images),
        steps=steps,
        image_size=image_size,
        param=given.param,
        pipeline=make_transforms(transforms).to(device),
        make_optimizer=given.optimizer or (lambda params: torch.optim.Adam(params, lr=lr)),
        keep={int(t) for t in given.thresholds if 0 < int(t) <= steps},
        bf16=_bf16(given.precision, device),
        channels_last=bool(given.channels_last),
        resize=given.resize is None or bool(given.resize),  # None: the default
        compile=bool(given.compile),
        redirect_steps=min(_redirect_steps(given.redirect_relu), steps),
        alpha=bool(given.alpha),
        diversity=diversity if request.group > 1 else 0.0,
        group=request.group if request.group > 1 and diversity > 0 else 1,
        init=_init(given.init, image_size, n_images, prepared.channels),
        batch_size=n_images,
        settings={},
    )
    plan.batch_size = _batch_size(given.batch_size) or (
        default_batch_size(plan) if plan.splittable else n_images
    )
    if not plan.splittable:
        plan.batch_size = n_images
    plan.batch_size = _whole_groups(plan.batch_size, plan.group)
    plan.settings = {
        "model": prepared.name,
        "objective": repr(request.objective)
        if request.objective
        else f"targets({', '.join(request.labels)})",
        "targets": request.labels,
        "steps": steps,
        "size": list(image_size),
        "model_input_size": list(plan.model_size),
        "lr": lr,
        "param": given.param if isinstance(given.param, str) else repr(given.param),
        "transforms": transforms
        if isinstance(transforms, str) or transforms is None
        else repr(plan.pipeline),
        "preprocess": prepared.preprocess.describe(),
        "seed": given.seed if isinstance(given.seed, int) else list(given.seed),
        "init": None
        if given.init is None
        else (str(given.init) if isinstance(given.init, (str, os.PathLike)) else "image"),
        "optimizer": "Adam" if given.optimizer is None else repr(given.optimizer),
        "device": str(device),
        "precision": "bf16" if plan.bf16 else "fp32",
        "channels_last": plan.channels_last,
        "compile": plan.compile,
        "redirect_relu": plan.redirect_steps,
        "alpha": plan.alpha,
        "batch_size": plan.batch_size,
        "renders": request.group,
        "diversity": plan.diversity,
    }
    return plan


# -- one resolver per option ---------------------------------------------------------------------


def _steps(steps: object) -> int:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise InvalidArgumentError(f"steps must be a non-negative int, got {steps!r}")
    return steps


def _lr(lr: object, param: object) -> float:
    value = default_lr(param) if lr is None else lr  # type: ignore[arg-type]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidArgumentError(
            f"lr must be a positive, finite number, got {lr!r}; leave it out for the "
            f"parameterization's own ({default_lr(param) if isinstance(param, (str, ImageParam)) else 0.05})"
        )
    return value


def _redirect_steps(redirect: object) -> int:
    if not isinstance(redirect, (bool, int)) or redirect < 0:
        raise InvalidArgumentError(
            f"redirect_relu must be True, False or a number of steps, got {redirect!r}"
        )
    return opts.REDIRECT_STEPS if redirect is True else int(redirect)


def _whole_groups(batch_size: int, group: int) -> int:
    """The largest multiple of ``group`` not above ``batch_size`` (at least one group): the
    renders of one target are optimized together, since the diversity term compares them."""
    return max(group, batch_size // group * group)


def _diversity(diversity: object) -> float:
    if (
        not isinstance(diversity, (int, float))
        or isinstance(diversity, bool)
        or not math.isfinite(diversity)
        or diversity < 0
    ):
        raise InvalidArgumentError(f"diversity must be a number >= 0, got {diversity!r}")
    return float(diversity)


def _batch_size(batch_size: object) -> int | None:
    if batch_size is not None and (
        not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1
    ):
        raise InvalidArgumentError(f"batch_size must be a positive int or None, got {batch_size!r}")
    return batch_size


def _image_size(size: object, param: object, prepared: Prepared) -> tuple[int, int]:
    image_size = normalize_size(size) if size is not None else prepared.default_size  # type: ignore[arg-type]
    if isinstance(param, ImageParam):  # a given parameterization fixes the size
        if size is not None and tuple(param.size) != image_size:
            raise InvalidArgumentError(
                f"param holds {tuple(param.size)} images but size={size!r}; "
                "leave size out or build the parameterization at that size"
            )
        return (int(param.size[0]), int(param.size[1]))
    return image_size


def _bf16(precision: object, device: torch.device) -> bool:
    if precision not in ("auto", "fp32", "bf16"):
        raise InvalidArgumentError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def _init(init: object, image_size: tuple[int, int], n_images: int, channels: int) -> torch.Tensor | None:
    if init is None:
        return None
    if channels != 3:
        raise InvalidArgumentError(
            f"init= starts from an RGB photo, but the model takes {channels}-channel images; leave init out"
        )
    images = load_images(init, image_size)
    if len(images) not in (1, n_images):
        raise InvalidArgumentError(
            f"init has {len(images)} images but the render makes {n_images}; give one image "
            "for all of them or one per image"
        )
    return images


# -- chunks --------------------------------------------------------------------------------------


def _after_out_of_memory(plan: Plan, error: torch.OutOfMemoryError, start: int, stop: int, bar: tqdm) -> int:
    """Halve the chunk after a CUDA out-of-memory error (or re-raise at one image)."""
    if not plan.splittable or stop - start <= plan.group:
        raise error
    bar.reset(total=bar.total)  # recount: the chunk in flight starts over
    bar.update(plan.steps * start)
    size = _whole_groups(max(1, (stop - start) // 2), plan.group)
    plan.settings["batch_size"] = size
    warnings.warn(f"out of memory ({error}); retrying with batch_size={size}", stacklevel=3)
    if plan.device.type == "cuda":
        torch.cuda.empty_cache()
    return size


def merge(parts: list[RenderResult], settings: dict[str, object]) -> RenderResult:
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
    maps = [part.attribution for part in parts if part.attribution is not None]
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
        attribution=torch.cat(maps) if len(maps) == len(parts) else None,
    )


__all__ = ["render", "resolve_targets", "make_plan", "merge", "Plan", "Request"]
