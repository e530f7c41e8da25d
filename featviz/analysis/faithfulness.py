"""Deletion and insertion: does an attribution map point at what the model's answer rests on?

The deletion and insertion metrics of RISE (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input
Sampling for Explanation of Black-box Models", BMVC). The map ranks the photo's pixels, most
salient first. *Deletion* removes them in that order, a chunk at a time, and follows the target
class's softmax probability: a faithful map makes it fall fast (a low area under the curve).
*Insertion* starts from an image with the information removed and puts the pixels back in the
same order: a faithful map makes the probability rise fast (a high area). The same curves for
uniformly random pixel orders say what chance gives, so a map can be judged against it.

Example:
    >>> prepared = featviz.prepare("efficientnet_lite0")
    >>> result = deletion_insertion(prepared, photo, cam, target=281)    # cam: a 7x7 Grad-CAM
    >>> result.deletion_auc, result.random_deletion_auc                  # lower is better
    >>> result.insertion_auc, result.random_insertion_auc                # higher is better
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

from featviz.errors import InvalidArgumentError
from featviz.imaging import check_values
from featviz.model.prepared import Prepared
from featviz.targets import OUTPUT

#: The named baselines (what removed pixels become). See :func:`baseline_image`.
BASELINES = ("blur", "grey")

#: The blur baseline's standard deviation as a fraction of the photo's longer side: 7 px at
#: 224 px, a little stronger than RISE's (an 11 px kernel, sigma 5), so that the detail inside one
#: cell of a 7x7 map (32 px) is gone while colours and the coarse layout stay.
BLUR_SIGMA = 1 / 32

#: How many perturbed images are built and passed through the model at once (as many as
#: :meth:`Prepared.activations` passes by default). Fixed rather than sized by
#: ``facts.images_per_pass``, which measures the model at its default input size, not the photo's.
BATCH = 32


@dataclass(frozen=True)
class Faithfulness:
    """The deletion and insertion curves of one attribution map, and the same for chance.

    Each curve holds ``steps + 1`` probabilities of the target class, at 0, 1/steps, ..., 1 of the
    pixels removed (deletion) or inserted (insertion); an area is the trapezoid rule over [0, 1].

    Attributes:
        deletion: the probability as the map's most salient pixels are removed.
        insertion: the probability as the map's most salient pixels are put back on the baseline.
        random_deletion: the deletion curve for random pixel orders, averaged (empty with
            ``random_orders=0``).
        random_insertion: the insertion curve for random pixel orders, averaged.
        deletion_auc: area under ``deletion`` (lower: more faithful).
        insertion_auc: area under ``insertion`` (higher: more faithful).
        random_deletion_auc: area under ``random_deletion`` (NaN with no random orders).
        random_insertion_auc: area under ``random_insertion`` (NaN with no random orders).
        target: the class whose probability the curves follow.
        baseline: what removed pixels became: ``"blur"``, ``"grey"`` or ``"tensor"``.
        random_orders: how many random orders were averaged.
    """

    deletion: list[float]
    insertion: list[float]
    random_deletion: list[float]
    random_insertion: list[float]
    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    target: int
    baseline: str
    random_orders: int

    @property
    def steps(self) -> int:
        """How many chunks of pixels were removed or inserted (each curve has one more point)."""
        return len(self.deletion) - 1

    @property
    def score(self) -> float:
        """``insertion_auc - deletion_auc``: one number for the map, higher is better (in
        [-1, 1]; near 0 for a map no better than a constant one)."""
        return self.insertion_auc - self.deletion_auc

    @property
    def random_score(self) -> float:
        """:attr:`score` for random orders: what a map must beat (NaN with no random orders)."""
        return self.random_insertion_auc - self.random_deletion_auc

    def to_dict(self) -> dict[str, object]:
        """The curves, areas and scores as plain Python numbers, ready for JSON (NaN stays NaN;
        ``featviz.files.plain`` writes it as null)."""
        return {
            "target": self.target,
            "baseline": self.baseline,
            "steps": self.steps,
            "random_orders": self.random_orders,
            "deletion": list(self.deletion),
            "insertion": list(self.insertion),
            "random_deletion": list(self.random_deletion),
            "random_insertion": list(self.random_insertion),
            "deletion_auc": self.deletion_auc,
            "insertion_auc": self.insertion_auc,
            "random_deletion_auc": self.random_deletion_auc,
            "random_insertion_auc": self.random_insertion_auc,
            "score": self.score,
            "random_score": self.random_score,
        }


def deletion_insertion(
    prepared: Prepared,
    photo: torch.Tensor,
    saliency: torch.Tensor,
    target: int,
    steps: int = 16,
    baseline: str | torch.Tensor = "blur",
    random_orders: int = 3,
    seed: int = 0,
) -> Faithfulness:
    """The deletion and insertion curves of an attribution map (Petsiuk et al. 2018), and the
    same curves for random pixel orders.

    The map is resized bilinearly to the photo and ranks its pixels, most salient first (equal
    values in raster order, so a constant map gives raster order). The pixels are split into
    ``steps`` chunks of equal size (to within one pixel). Deletion replaces the first *i* chunks
    by the baseline; insertion shows the first *i* chunks of the photo over the baseline. Both
    curves therefore run between the same two images: deletion from the photo to the baseline,
    insertion from the baseline to the photo.

    The default baseline for both is a strong blur of the photo. RISE blurs for insertion but
    deletes to black; one baseline for both makes the two areas comparable (and their difference,
    :attr:`Faithfulness.score`, meaningful), and blur removes a region's detail without pasting
    sharp-edged flat patches into the photo, shapes the model never saw in training that can move
    its answer by themselves. Blur keeps colour and coarse layout, so a map that points at those
    scores worse than it deserves; ``"grey"`` (0.5 everywhere) or a tensor of your own removes them.

    Example:
        >>> result = deletion_insertion(prepared, photo, cam, target=281, steps=32)
        >>> result.score > result.random_score        # the map beats chance
        True

    Args:
        prepared: the model (:func:`featviz.prepare`); its output must be ``(N, classes)`` logits.
        photo: one image in [0, 1], ``(3, H, W)`` or ``(1, 3, H, W)``, best at the model's input
            size (the perturbed images are resized to it as every image is).
        saliency: the attribution map, ``(h, w)`` on any grid (e.g. a layer's 7x7), finite; higher
            means more important. Only the order of its values matters.
        target: the class whose softmax probability is followed.
        steps: how many chunks the pixels are removed / inserted in, 1 to H*W; each curve has
            ``steps + 1`` points.
        baseline: ``"blur"`` (a Gaussian blur of the photo, sigma 1/32 of its longer side),
            ``"grey"`` (0.5), or an image of the photo's shape in [0, 1].
        random_orders: how many uniformly random pixel orders to average for the chance curves
            (0 skips them).
        seed: seeds the random orders (a ``torch.Generator``; nothing global is read).

    Returns:
        A :class:`Faithfulness` with the curves, their areas and scores.

    Raises:
        InvalidArgumentError: a photo, map, target, steps, baseline, random_orders or seed that
            cannot be used (the message says which and how to fix it), or a model whose output is
            not one row of class scores per image.
    """
    image = _checked_photo(photo)
    height, width = image.shape[-2:]
    pixels = height * width
    _check_count("steps", steps, 1, pixels, f"at most the photo's {height}x{width} = {pixels} pixels")
    _check_count("random_orders", random_orders, 0, None, "0 skips the random orders")
    _check_count("target", target, 0, None, "a class index of the model's output")
    _check_count("seed", seed, None, None, "")
    salient_first = _ranks_of(_checked_saliency(saliency), (height, width))
    device = prepared.device
    image = image.to(device)
    replacement, baseline_name = _checked_baseline(baseline, image)
    probability = _probability(prepared, target)
    counts = _chunk_ends(pixels, steps)

    def curves(ranks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grid = ranks.to(device).view(1, 1, height, width)
        deleted = _curve(probability, replacement, image, grid, counts)
        inserted = _curve(probability, image, replacement, grid, counts)
        return deleted, inserted

    deletion, insertion = curves(salient_first)
    random_deletion = torch.zeros(0)
    random_insertion = torch.zeros(0)
    if random_orders:
        generator = torch.Generator().manual_seed(seed)
        # a random permutation, read as each pixel's place, is a uniformly random order
        runs = [curves(torch.randperm(pixels, generator=generator)) for _ in range(random_orders)]
        random_deletion = torch.stack([run[0] for run in runs]).mean(0)
        random_insertion = torch.stack([run[1] for run in runs]).mean(0)
    return Faithfulness(
        deletion=deletion.tolist(),
        insertion=insertion.tolist(),
        random_deletion=random_deletion.tolist(),
        random_insertion=random_insertion.tolist(),
        deletion_auc=area(deletion),
        insertion_auc=area(insertion),
        random_deletion_auc=area(random_deletion),
        random_insertion_auc=area(random_insertion),
        target=target,
        baseline=baseline_name,
        random_orders=random_orders,
    )


def area(curve: torch.Tensor) -> float:
    """Area under a curve sampled at evenly spaced points of [0, 1] (the trapezoid rule); NaN for
    a curve of fewer than two points."""
    values = curve.double().cpu()
    if len(values) < 2:
        return float("nan")
    return float((values[1:] + values[:-1]).sum() / (2 * (len(values) - 1)))


def baseline_image(photo: torch.Tensor, baseline: str) -> torch.Tensor:
    """The image that removed pixels become: ``"blur"`` (a Gaussian blur of ``photo``, sigma
    :data:`BLUR_SIGMA` of its longer side, edges replicated) or ``"grey"`` (0.5 everywhere).

    Raises:
        InvalidArgumentError: another name.
    """
    if baseline == "grey":
        return torch.full_like(photo, 0.5)
    if baseline == "blur":
        sigma = BLUR_SIGMA * max(photo.shape[-2:])
        side = 2 * max(1, math.ceil(3 * sigma)) + 1  # the kernel reaches 3 sigma
        return gaussian_blur2d(photo, (side, side), (sigma, sigma), border_type="replicate")
    raise InvalidArgumentError(
        f"baseline must be one of {list(BASELINES)} or an image tensor, got {baseline!r}"
    )


def _chunk_ends(pixels: int, steps: int) -> torch.Tensor:
    """How many pixels are changed after each of the ``steps + 1`` points: 0, ..., ``pixels``."""
    return torch.tensor([round(i * pixels / steps) for i in range(steps + 1)])


def _ranks_of(saliency: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Each pixel's place in the order (0: most salient) after resizing the map to ``size``."""
    upsampled = F.interpolate(
        saliency.double().cpu()[None, None], size=size, mode="bilinear", align_corners=False
    ).flatten()
    order = torch.sort(upsampled, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(len(order))
    return ranks


def _curve(
    probability: Callable[[torch.Tensor], torch.Tensor],
    changed: torch.Tensor,
    kept: torch.Tensor,
    ranks: torch.Tensor,
    counts: torch.Tensor,
) -> torch.Tensor:
    """The target's probability for each count ``k``, on the image that is ``changed`` at the
    ``k`` first pixels of the order (``ranks < k``) and ``kept`` elsewhere; :data:`BATCH` images
    built at a time, so memory stays bounded however many steps."""
    found = []
    for start in range(0, len(counts), BATCH):
        ends = counts[start : start + BATCH].to(ranks.device).view(-1, 1, 1, 1)
        found.append(probability(torch.where(ranks < ends, changed, kept)))
    return torch.cat(found)


def _probability(prepared: Prepared, target: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function: ``(N, C, H, W)`` images → the target's softmax probability for each (CPU)."""

    def probability(images: torch.Tensor) -> torch.Tensor:
        logits = prepared.activations(images, {OUTPUT}, len(images))[OUTPUT]
        if logits.dim() != 2:
            raise InvalidArgumentError(
                f"deletion and insertion need a classifier's output, one row of class scores "
                f"per image, but the model ({prepared.name}) returned shape {tuple(logits.shape)}"
            )
        if target >= logits.shape[1]:
            raise InvalidArgumentError(
                f"target must be a class index from 0 to {logits.shape[1] - 1} (the model has "
                f"{logits.shape[1]} classes), got {target}"
            )
        return logits.double().softmax(1)[:, target].cpu()

    return probability


def _checked_photo(photo: torch.Tensor) -> torch.Tensor:
    """``photo`` as a ``(1, C, H, W)`` float image in [0, 1]."""
    if (
        not isinstance(photo, torch.Tensor)
        or photo.dim() not in (3, 4)
        or (photo.dim() == 4 and len(photo) != 1)
    ):
        shape = tuple(photo.shape) if isinstance(photo, torch.Tensor) else type(photo).__name__
        raise InvalidArgumentError(
            f"photo must be one image, a (3, H, W) or (1, 3, H, W) tensor in [0, 1], got {shape}; "
            "pass one photo at a time (e.g. photos[i])"
        )
    image = photo.float() if photo.dim() == 4 else photo.float()[None]
    if image.shape[-2] * image.shape[-1] == 0:
        raise InvalidArgumentError(f"photo has no pixels (shape {tuple(photo.shape)})")
    return check_values(image)


def _checked_saliency(saliency: torch.Tensor) -> torch.Tensor:
    """``saliency`` after checking it is a non-empty, finite 2-D map."""
    if not isinstance(saliency, torch.Tensor) or saliency.dim() != 2 or saliency.numel() == 0:
        shape = tuple(saliency.shape) if isinstance(saliency, torch.Tensor) else type(saliency).__name__
        raise InvalidArgumentError(
            f"saliency must be a non-empty 2-D (h, w) map, got {shape}; for a (1, h, w) or "
            "(1, 1, h, w) map pass map.squeeze(), for a batch one map at a time"
        )
    if not torch.isfinite(saliency).all():
        bad = int((~torch.isfinite(saliency)).sum())
        raise InvalidArgumentError(
            f"saliency must be finite, got {bad} NaN or infinite value(s) in a {tuple(saliency.shape)} "
            "map; replace them (e.g. torch.nan_to_num(map)) or check how the map was made"
        )
    return saliency


def _checked_baseline(baseline: str | torch.Tensor, photo: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The baseline image for ``photo`` (``(1, C, H, W)``, on its device) and its name."""
    if isinstance(baseline, str):
        return baseline_image(photo, baseline), baseline
    if not isinstance(baseline, torch.Tensor):
        raise InvalidArgumentError(
            f"baseline must be one of {list(BASELINES)} or an image tensor, got {type(baseline).__name__}"
        )
    image = baseline.float().to(photo.device)
    image = image[None] if image.dim() == 3 else image
    if image.shape != photo.shape:
        raise InvalidArgumentError(
            f"a baseline image must have the photo's shape {tuple(photo.shape[1:])}, got "
            f"{tuple(baseline.shape)}; resize it to the photo (featviz.imaging.resize)"
        )
    return check_values(image), "tensor"


def _check_count(name: str, value: object, low: int | None, high: int | None, hint: str) -> None:
    """Raise unless ``value`` is an int (not a bool) in ``[low, high]`` (an open end: None)."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        wanted = "an int" if low is None else f"an int >= {low}"
        wanted += f", {hint}" if hint else ""
        raise InvalidArgumentError(f"{name} must be {wanted}, got {value!r}")


__all__ = ["BASELINES", "BLUR_SIGMA", "Faithfulness", "area", "baseline_image", "deletion_insertion"]
