"""Quality numbers for feature visualizations, so settings can be compared without eyeballing.

All metrics score the **8-bit image** (what a saved PNG holds) and are deterministic (seeded
generators). Natural references come from scikit-image's bundled photos (no download; install
``scikit-image`` or ``featviz[bench]``): :data:`REFERENCE_PHOTOS`, each as its center square and its
four corner squares of 60% of the short side — 50 crops.

- :func:`activation_ratio` — the unit's response to the clean image ÷ its maximum over the natural
  references (> 1: the picture drives the unit harder than any reference photo).
- :func:`robustness` — the same ratio averaged over random, seeded views the optimizer never saw
  (jitter, scale, rotation).
- :func:`transferability` — for class renders: do *other* models (EfficientNet-Lite1/2 by default)
  put the class in their top-1/top-5, and with what probability (Fel et al. 2023, "MACO").
- :func:`spectral_slope` — slope of the radially averaged log power spectrum against log frequency,
  and the share of power in the top half of frequencies; natural photos have slopes near -2
  (van der Schaaf & van Hateren 1996). :func:`natural_spectrum_band` gives the references' range.
- :func:`diversity` — mean pairwise cosine distance of a judge model's pooled features across a
  batch rendered for one unit.
- :func:`plausibility` — cosine similarity, in a judge model's feature space, between class renders
  and the reference photos of that class (Fel et al. 2023 use a similar plausibility score), for
  the classes with offline photos in :data:`CLASS_PHOTOS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featviz import io, rng
from featviz.errors import InvalidArgumentError
from featviz.hooks import guarded
from featviz.objectives import as_objective
from featviz.param import composite
from featviz.prepared import Prepared, prepare
from featviz.targets import INPUT, OUTPUT, Target
from featviz.transforms import Jitter, RandomRotate, RandomScale, Transforms

REFERENCE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "stereo_motorcycle",
    "hubble_deep_field",
    "brick",
    "grass",
    "gravel",
    "camera",
)
# ImageNet classes with an offline photo: 285 Egyptian cat (chelsea), 967 espresso (coffee),
# 657 missile (rocket).
CLASS_PHOTOS = {285: "chelsea", 967: "coffee", 657: "rocket"}


def _skimage_data():  # noqa: ANN202 - a module
    try:
        from skimage import data
    except ImportError as error:
        raise InvalidArgumentError(
            "featviz.metrics needs scikit-image for its natural reference photos; install it with "
            '`pip install scikit-image` (or `pip install "featviz[bench]"`)'
        ) from error
    return data


def _photo(name: str) -> torch.Tensor:
    array = getattr(_skimage_data(), name)()
    array = array[0] if isinstance(array, tuple) else array
    x = torch.tensor(np.asarray(array), dtype=torch.float32) / 255
    x = x[..., None].repeat(1, 1, 3) if x.dim() == 2 else x[..., :3]
    return x.permute(2, 0, 1)


def _square_crops(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    h, w = x.shape[-2:]
    s = min(h, w)
    c = int(0.6 * s)
    boxes = [((h - s) // 2, (w - s) // 2, s), (0, 0, c), (0, w - c, c), (h - c, 0, c), (h - c, w - c, c)]
    return [
        F.interpolate(x[None, :, y : y + b, z : z + b], size=size, mode="bilinear", antialias=True)[0]
        for y, z, b in boxes
    ]


@lru_cache(maxsize=4)
def reference_images(size: int = 224) -> torch.Tensor:
    """The 50 natural reference crops, ``(50, 3, size, size)`` in [0, 1] (8-bit values)."""
    crops = [crop for name in REFERENCE_PHOTOS for crop in _square_crops(_photo(name), size)]
    return quantize(torch.stack(crops))


def class_photos(label: int, size: int = 224) -> torch.Tensor:
    """The offline reference crops of an ImageNet class in :data:`CLASS_PHOTOS`."""
    if label not in CLASS_PHOTOS:
        raise InvalidArgumentError(f"no offline photos for class {label}; available: {sorted(CLASS_PHOTOS)}")
    return quantize(torch.stack(_square_crops(_photo(CLASS_PHOTOS[label]), size)))


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, as a saved PNG would. RGBA renders (``alpha=True``) are first composited
    over mid-grey, so every metric scores what a viewer sees on a neutral background."""
    if images.dim() == 4 and images.shape[1] == 4:
        images = composite(images.float(), 0.5)
    return io.to_uint8(images).movedim(-1, -3).float() / 255


def unit_response(
    model: nn.Module | str | Prepared,
    target: str | Target,
    images: torch.Tensor,
    preprocess: object = None,
    batch: int = 25,
) -> torch.Tensor:
    """The target's score (e.g. a channel's mean activation) for each image, no transforms."""
    objective = as_objective(target)
    prepared = prepare(model, preprocess=preprocess)
    scores: list[torch.Tensor] = []

    def score(rows: slice, acts: dict[str, torch.Tensor]) -> None:
        scores.append(objective({**acts, INPUT: images[rows].to(prepared.device)}).float().cpu())

    prepared.each_batch(images, objective.layers, score, batch)
    return torch.cat(scores)


def activation_ratio(
    model: nn.Module,
    target: str | Target,
    images: torch.Tensor,
    references: torch.Tensor | None = None,
    preprocess: object = None,
) -> torch.Tensor:
    """Each image's response ÷ the unit's maximum response over natural references.

    Example:
        >>> result = featviz.render(model, "blocks.4:12")
        >>> featviz.metrics.activation_ratio(model, "blocks.4:12", result.images)
        tensor([6.38])
    """
    refs = reference_images() if references is None else references
    natural = unit_response(model, target, refs, preprocess).max()
    return unit_response(model, target, quantize(images), preprocess) / natural


def robustness(
    model: nn.Module,
    target: str | Target,
    images: torch.Tensor,
    views: int = 16,
    seed: int = 0,
    references: torch.Tensor | None = None,
    preprocess: object = None,
) -> torch.Tensor:
    """:func:`activation_ratio` averaged over ``views`` unseen random views of each image.

    The views (jitter up to 16 px, scale 0.75–1.25, rotation up to ±30°) are wider than the
    render's own transforms, so a picture that only works pixel-exactly scores low.
    """
    refs = reference_images() if references is None else references
    natural = unit_response(model, target, refs, preprocess).max()
    pipeline = Transforms([RandomScale(0.75, 1.25), RandomRotate(30), Jitter(16)])
    images = quantize(images)
    n = len(images)
    u = pipeline.sample(rng.image_seeds(seed, n * views), 1)[0]  # (n * views, k)
    many = images.repeat_interleave(views, 0)
    warped = quantize(pipeline(many, u, (images.shape[-2], images.shape[-1])))
    response = unit_response(model, target, warped, preprocess).view(n, views)
    return response.mean(1) / natural


def _probabilities(
    model: nn.Module | Prepared, images: torch.Tensor, preprocess: object = None
) -> torch.Tensor:
    return unit_response_all(model, images, preprocess).softmax(-1)


def unit_response_all(
    model: nn.Module | str | Prepared, images: torch.Tensor, preprocess: object = None
) -> torch.Tensor:
    """The model's full output (e.g. logits) for each image, ``(N, classes)``."""
    prepared = prepare(model, preprocess=preprocess)
    return prepared.activations(images, {OUTPUT}, batch=max(1, len(images)))[OUTPUT].cpu()


def transferability(
    images: torch.Tensor,
    label: int,
    judges: Sequence[nn.Module | str] = ("efficientnet_lite1", "efficientnet_lite2"),
) -> dict[str, dict[str, float]]:
    """How other models classify class renders: per judge, top-1 / top-5 rate and mean probability.

    Raises:
        ModelLoadError: a judge's weights package is not installed (``featviz[bench]``).
    """
    images = quantize(images)
    report = {}
    for judge in judges:
        model = prepare(judge)
        probs = _probabilities(model, images)
        top5 = probs.topk(5, dim=-1).indices
        name = model.name
        report[name] = {
            "top1": float((top5[:, 0] == label).float().mean()),
            "top5": float((top5 == label).any(-1).float().mean()),
            "probability": float(probs[:, label].mean()),
        }
    return report


def spectral_slope(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: (slope of log radial power vs log frequency, share of power above half Nyquist).

    Computed on the grey (channel-mean) 8-bit image with its mean removed and a Hann window.
    White noise has slope ≈ 0, natural photos ≈ -2.
    """
    x = quantize(images).mean(1)  # (N, H, W)
    n, h, w = x.shape
    window = torch.hann_window(h, periodic=False)[:, None] * torch.hann_window(w, periodic=False)[None]
    x = (x - x.mean((1, 2), keepdim=True)) * window
    power = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1)).abs().square()
    fy = torch.fft.fftshift(torch.fft.fftfreq(h))[:, None]
    fx = torch.fft.fftshift(torch.fft.fftfreq(w))[None, :]
    radius = (fx.square() + fy.square()).sqrt()
    bins = torch.linspace(1.0 / min(h, w), 0.5, 24)
    index = torch.bucketize(radius, bins)
    valid = (index > 0) & (index < len(bins))
    flat_index = index[valid]
    radial = torch.zeros(n, len(bins)).index_add_(1, flat_index, power[:, valid])
    counts = torch.zeros(len(bins)).index_add_(0, flat_index, torch.ones_like(flat_index, dtype=torch.float))
    used = counts > 0
    log_f = torch.log(bins[used] - (bins[1] - bins[0]) / 2)
    log_p = torch.log(radial[:, used] / counts[used] + 1e-12)
    f_centered = log_f - log_f.mean()
    slope = (log_p - log_p.mean(1, keepdim=True)) @ f_centered / f_centered.square().sum()
    high = power[:, radius > 0.25].sum(1) / power[:, radius > 0].sum(1).clamp(min=1e-12)
    return slope, high


def natural_spectrum_band(size: int = 224) -> dict[str, tuple[float, float]]:
    """The range (min, max) of :func:`spectral_slope`'s two numbers over the natural references."""
    slope, high = spectral_slope(reference_images(size))
    return {
        "slope": (float(slope.min()), float(slope.max())),
        "high_frequency_share": (float(high.min()), float(high.max())),
    }


def _features(judge: nn.Module | Prepared, images: torch.Tensor) -> torch.Tensor:
    """Pooled penultimate features (timm's ``forward_features`` when available)."""
    prepared = prepare(judge)
    x = prepared.model_input(quantize(images))
    with guarded(prepared.model), torch.no_grad():
        forward = getattr(prepared.model, "forward_features", None)
        feats = forward(x) if callable(forward) else prepared.model(x)
    return (feats.flatten(2).mean(2) if feats.dim() == 4 else feats.flatten(1)).float().cpu()


def diversity(images: torch.Tensor, judge: nn.Module | str = "efficientnet_lite0") -> float:
    """Mean pairwise cosine distance of a judge's pooled features across a batch (0 = identical)."""
    if len(images) < 2:
        raise InvalidArgumentError("diversity needs at least two images of the same unit")
    feats = F.normalize(_features(prepare(judge), images), dim=1)
    sims = feats @ feats.T
    n = len(images)
    return float(1 - (sims.sum() - sims.diagonal().sum()) / (n * (n - 1)))


def plausibility(
    images: torch.Tensor,
    label: int,
    judge: nn.Module | str = "efficientnet_lite1",
) -> float:
    """Mean cosine similarity of a judge's features between class renders and that class's photos."""
    model = prepare(judge)
    ours = F.normalize(_features(model, images), dim=1)
    photos = F.normalize(_features(model, class_photos(label)), dim=1)
    return float((ours @ photos.T).mean())
