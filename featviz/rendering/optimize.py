"""The optimization of one chunk of images: gradient ascent on an image parameterization.

Each step, as in the design::

    images = param()                                   # the parameterization
    x = transforms(images)                             # per-image random views, model input size
    acts = forward(x)                                  # preprocess; stop after the deepest layer
    score = objective(acts)                            # one score per image, to maximize
    (-score.sum()).backward(); optimizer.step()        # only this module negates the score

Around it: the transform parameters (and alpha backgrounds) are drawn in blocks from each image's
own seed (:class:`_Draws`), the gradient reaching the image is summed into an attribution map and
images whose score or gradient is not finite are held still (:class:`_Tally`), and ReLU gradient
redirection is on for the first steps only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from featviz import rng
from featviz.errors import InvalidArgumentError, NonFiniteError
from featviz.imaging import resize
from featviz.options import ALPHA_PENALTY
from featviz.rendering.objectives import Acts, Objective, group_similarity
from featviz.rendering.param import ImageParam, composite, make_param
from featviz.rendering.plan import Plan
from featviz.rendering.redirect import RedirectedReLU
from featviz.rendering.result import RenderResult
from featviz.rendering.transforms import Transforms
from featviz.targets import INPUT

# Transform parameters are drawn this many steps at a time (one call per image per block).
_SAMPLE_BLOCK = 256


def optimize(plan: Plan, rows: slice, bar: tqdm) -> RenderResult:
    """Optimize the images ``rows`` of ``plan`` together; the model is guarded and hooked for
    this chunk only. Ctrl-C ends the loop early and returns what there is (``interrupted``)."""
    objective, labels = plan.objective(rows), plan.request.labels[rows]
    seeds = rng.ImageSeeds(plan.seeds[rows])
    n_images = len(labels)
    image = make_param(
        plan.param, plan.image_size, n_images, seeds, alpha=plan.alpha, channels=plan.prepared.channels
    ).to(plan.device)
    init = plan.init_images(rows)
    if init is not None:
        image.set_image(init.expand(n_images, -1, -1, -1).to(plan.device))
    hooked = plan.prepared.hooked(
        objective.layers,
        bf16=plan.bf16,
        channels_last=plan.channels_last,
        compile=plan.compile,
        size=plan.model_size,
    )
    with hooked as forward:

        def evaluate(check: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
            """The clean images (no transforms, RGBA over grey) and their scores."""
            with torch.no_grad():
                images = image()
                flat = composite(images, 0.5) if plan.alpha else images
                acts = {**forward(resize(flat, plan.model_size)), INPUT: flat}
                if check:
                    objective.validate({k: tuple(v.shape[1:]) for k, v in acts.items()})
                return images, objective(acts)

        _probe(evaluate, n_images, objective)
        diverse_keys = plan.diversity_keys(rows)
        opt = plan.make_optimizer(image.parameters())
        draws = _Draws(plan.pipeline, seeds, plan.steps, plan.alpha, plan.device, plan.model_size)
        tally = _Tally(n_images, plan.image_size, plan.device)
        history: list[torch.Tensor] = []
        snapshots: dict[int, torch.Tensor] = {}
        interrupted = False
        redirect = RedirectedReLU(plan.prepared.model)
        start = time.perf_counter()
        try:
            if plan.redirect_steps:
                redirect.__enter__()
            for step in range(plan.steps):
                if step == plan.redirect_steps:
                    redirect.__exit__()
                opt.zero_grad(set_to_none=True)
                images = tally.watch(image())
                flat, x = draws.view(images, step)
                acts = {**forward(x), INPUT: flat}
                scores = _score_views(objective, acts, plan.pipeline.views, n_images)
                pursued = _with_opacity_cost(scores, images, plan.alpha)
                if plan.diversity:
                    pursued = _with_diversity(pursued, scores, acts, diverse_keys, n_images, plan)
                (-pursued.sum()).backward()
                tally.add(images, scores, image)
                opt.step()
                history.append(scores.detach())
                bar.update(n_images)
                if step + 1 in plan.keep:
                    snapshots[step + 1] = image().detach().cpu()
                    bar.set_postfix(score=f"{scores.detach().mean().item():.3g}")
        except KeyboardInterrupt:
            interrupted = True
        finally:
            redirect.__exit__()
        if plan.device.type == "cuda":  # once per chunk: the queued steps belong to its time
            torch.cuda.synchronize(plan.device)
        seconds = time.perf_counter() - start
        final_images, final_scores = evaluate()

    steps_done = len(history)
    skipped = tally.skipped.cpu()
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
        attribution=tally.attribution_map().cpu(),
    )


def _probe(
    evaluate: Callable[..., tuple[torch.Tensor, torch.Tensor]], n_images: int, objective: Objective
) -> None:
    """A first pass on the start images: checks layers, channels and the score's shape before
    any optimization (a model that cannot take the images raises a featviz error there)."""
    _, scores = evaluate(check=True)
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (n_images,):
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise InvalidArgumentError(
            f"objective {objective!r} returned shape {shape}, expected one score per image "
            f"({n_images},); reduce over every dimension but the batch"
        )


class _Draws:
    """Each step's random transform parameters (and alpha backgrounds), drawn a block of steps at
    a time from each image's own seed, and applied to the images."""

    def __init__(
        self,
        pipeline: Transforms,
        seeds: rng.ImageSeeds,
        steps: int,
        alpha: bool,
        device: torch.device,
        model_size: tuple[int, int],
    ) -> None:
        self.pipeline, self.seeds, self.steps, self.alpha = pipeline, seeds, steps, alpha
        self.device, self.model_size = device, model_size
        self.block = self.backgrounds = torch.empty(0)

    def view(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(flat, x)``: the images over this step's background (RGB), and their transformed
        views at the model's input size."""
        if step % _SAMPLE_BLOCK == 0:
            count = min(_SAMPLE_BLOCK, self.steps - step)
            self.block = _to_device(self.pipeline.sample(self.seeds, count), self.device)
            if self.alpha:
                self.backgrounds = _to_device(_background_colours(self.seeds, step, count), self.device)
        index = step % _SAMPLE_BLOCK
        flat = images if not self.alpha else composite(images, self.backgrounds[index])
        return flat, self.pipeline(flat, self.block[index], self.model_size)


class _Tally:
    """What the steps leave behind besides the image: the attribution map (the magnitude of the
    score's gradient on the image, summed over steps) and the non-finite steps per image."""

    def __init__(self, n_images: int, size: tuple[int, int], device: torch.device) -> None:
        self.attribution = torch.zeros(n_images, 1, *size, device=device)
        self.skipped = torch.zeros(n_images, dtype=torch.long, device=device)

    def watch(self, images: torch.Tensor) -> torch.Tensor:
        """Keep the gradient that will reach ``images``."""
        images.retain_grad()
        return images

    def add(self, images: torch.Tensor, scores: torch.Tensor, image: ImageParam) -> None:
        """After the backward pass: sum the attribution, and zero the gradients of images whose
        score or gradient is not finite (no host-device synchronization)."""
        if images.grad is not None:
            self.attribution += images.grad.detach().abs().sum(1, keepdim=True).nan_to_num(0.0, 0.0, 0.0)
        self.skipped += _drop_nonfinite(image, scores)

    def attribution_map(self) -> torch.Tensor:
        """Each image's map scaled to [0, 1] by its own maximum."""
        peak = self.attribution.flatten(1).amax(1).clamp(min=1e-12).view(-1, 1, 1, 1)
        return self.attribution / peak


def _with_opacity_cost(scores: torch.Tensor, images: torch.Tensor, alpha: bool) -> torch.Tensor:
    """With ``alpha``, opacity costs :data:`~featviz.options.ALPHA_PENALTY` of the score, so what
    the unit does not need turns transparent."""
    if not alpha:
        return scores
    opacity = images[:, 3].flatten(1).mean(1)
    return scores - ALPHA_PENALTY * opacity * scores.detach().abs().clamp(min=1e-3)


def _with_diversity(
    pursued: torch.Tensor,
    scores: torch.Tensor,
    acts: Acts,
    keys: list[str | None],
    n_images: int,
    plan: Plan,
) -> torch.Tensor:
    """Each image loses ``plan.diversity`` of its score times its mean similarity to the other
    renders of its group (``plan.group`` consecutive images), compared at the group's layer."""
    group = plan.group
    first = next(k for k in acts if k != INPUT)  # an Objective's: the first of its layers that ran
    layers = [first if key is None else key for key in keys]
    if len(set(layers)) == 1:
        similarity = group_similarity(acts[layers[0]][:n_images], group)
    else:
        parts = [acts[key][g * group : (g + 1) * group] for g, key in enumerate(layers)]
        similarity = torch.cat([group_similarity(part, group) for part in parts])
    return pursued - plan.diversity * scores.detach().abs().clamp(min=1e-3) * similarity


def _score_views(objective: Objective, acts: Acts, views: int, n_images: int) -> torch.Tensor:
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


def _drop_nonfinite(image: ImageParam, scores: torch.Tensor) -> torch.Tensor:
    """Zero the gradients of images whose score or gradient is not finite; return that mask.

    A gradient is checked through its per-image sum (NaN or infinity anywhere makes the sum
    non-finite), and zeroed in place: one reduction and one masked write per parameter, no
    host-device synchronization.
    """
    grads = [p.grad for p in image.parameters() if p.grad is not None]
    n_images = scores.shape[0]
    bad = ~torch.isfinite(scores.detach())
    for grad in grads:
        per_image = grad.dim() > 0 and grad.shape[0] == n_images
        total = grad.flatten(1).sum(1) if per_image else grad.sum()
        bad = bad | ~torch.isfinite(total)
    for grad in grads:
        if grad.dim() > 0 and grad.shape[0] == n_images:
            grad.masked_fill_(bad.view(-1, *([1] * (grad.dim() - 1))), 0.0)
        else:
            grad.masked_fill_(bad.any(), 0.0)
    return bad.long()


def _check_finite(
    images: torch.Tensor, scores: torch.Tensor, skipped: torch.Tensor, steps_done: int, labels: list[str]
) -> None:
    never = [labels[i] for i in range(len(labels)) if steps_done and skipped[i] == steps_done]
    broken = [
        labels[i]
        for i in range(len(labels))
        if not torch.isfinite(images[i]).all() or not torch.isfinite(scores[i])
    ]
    if never or broken:
        raise NonFiniteError(
            f"the objective produced NaN or infinite values for {never or broken} "
            f"({'at every step' if never else 'on the final image'}). Check that the model gives "
            "finite outputs for images in [0, 1] after preprocessing, lower lr, or remove "
            "objective terms that can divide by zero."
        )
