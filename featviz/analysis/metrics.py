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

What a person sees, and whether a render explains its unit (these use the larger natural pool of
:func:`featviz.natural.natural_pool`, or a folder of your photos):

- :func:`colourfulness` (Hasler & Süsstrunk 2003) and :func:`contrast` (grey standard deviation);
  :func:`natural_band` gives the pool's median and quartiles.
- :func:`interpretability` — a machine two-alternative test after the human studies (Borowski et
  al. 2021) and MIS (Zimmermann et al. 2024): from the render, can a judge model tell which of two
  photos excites the unit more? Reported beside the same test answered from 1 and 9 natural
  exemplars. :func:`two_afc` asks the same questions of any unit whose responses to the pool are
  given (a concept's codes, say).
- :func:`path_similarity` — Geirhos et al.'s (2024) check: do the layers below the unit process the
  render like the unit's top natural exemplars?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from featviz import imaging, rng
from featviz.analysis.natural import CLASS_PHOTOS as CLASS_PHOTOS  # re-exported: metrics' references
from featviz.analysis.natural import REFERENCE_PHOTOS as REFERENCE_PHOTOS
from featviz.analysis.natural import NaturalPool, class_photos, natural_pool, reference_images
from featviz.errors import InvalidArgumentError
from featviz.model.hooks import guarded
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.objectives import as_objective
from featviz.rendering.param import composite
from featviz.rendering.transforms import Jitter, RandomRotate, RandomScale, Transforms
from featviz.targets import INPUT, OUTPUT, Target

JUDGES = ("efficientnet_lite1", "efficientnet_lite2")


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, as a saved PNG would. RGBA renders (``alpha=True``) are first composited
    over mid-grey, so every metric scores what a viewer sees on a neutral background."""
    if images.dim() == 4 and images.shape[1] == 4:
        images = composite(images.float(), 0.5)
    return imaging.quantized(images)


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
        model = _judge(judge)
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


@lru_cache(maxsize=4)
def _zoo_judge(name: str) -> Prepared:
    return prepare(name)


def _judge(judge: nn.Module | str | Prepared) -> Prepared:
    """A judge model, loaded once per process when given by zoo name."""
    return _zoo_judge(judge) if isinstance(judge, str) else prepare(judge)


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
    feats = F.normalize(_features(_judge(judge), images), dim=1)
    sims = feats @ feats.T
    n = len(images)
    return float(1 - (sims.sum() - sims.diagonal().sum()) / (n * (n - 1)))


def plausibility(
    images: torch.Tensor,
    label: int,
    judge: nn.Module | str = "efficientnet_lite1",
) -> float:
    """Mean cosine similarity of a judge's features between class renders and that class's photos."""
    model = _judge(judge)
    ours = F.normalize(_features(model, images), dim=1)
    photos = F.normalize(_features(model, class_photos(label)), dim=1)
    return float((ours @ photos.T).mean())


# ---------------------------------------------------------------------------------------------
# What a person sees: colour and contrast


def colourfulness(images: torch.Tensor) -> torch.Tensor:
    """Per image: Hasler & Süsstrunk's (2003) colourfulness M of the 8-bit image.

    With ``rg = R - G`` and ``yb = (R + G) / 2 - B`` on 0–255 values,
    ``M = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²)``: 0 for a grey image, about 15–35 for
    muted and 45–80 for colourful photos. Images that are not RGB score 0.
    """
    x = quantize(images) * 255
    if x.shape[1] != 3:
        return torch.zeros(len(x))
    rg = (x[:, 0] - x[:, 1]).flatten(1)
    yb = (0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]).flatten(1)
    spread = (rg.var(1, unbiased=False) + yb.var(1, unbiased=False)).sqrt()
    offset = (rg.mean(1).square() + yb.mean(1).square()).sqrt()
    return spread + 0.3 * offset


def contrast(images: torch.Tensor) -> torch.Tensor:
    """Per image: the standard deviation of the grey (BT.601 luma) 8-bit image, on 0–255."""
    x = quantize(images) * 255
    grey = x.mean(1) if x.shape[1] != 3 else torch.einsum("c,bchw->bhw", _LUMA, x)
    return grey.flatten(1).std(1, unbiased=False)


_LUMA = torch.tensor([0.299, 0.587, 0.114])


def natural_band(pool: NaturalPool | None = None) -> dict[str, dict[str, float]]:
    """The natural pool's median and quartiles of :func:`colourfulness` and :func:`contrast` over
    its colour photos
    (``{"colourfulness": {"low": q25, "median": q50, "high": q75}, "contrast": {...}}``): a
    render whose numbers lie between low and high looks as colourful and as contrasty as a
    typical crop of a photo."""
    images = (natural_pool() if pool is None else pool).colour()
    band = {}
    for name, values in (("colourfulness", colourfulness(images)), ("contrast", contrast(images))):
        q = values.quantile(torch.tensor([0.25, 0.5, 0.75]))
        band[name] = {"low": float(q[0]), "median": float(q[1]), "high": float(q[2])}
    return band


# ---------------------------------------------------------------------------------------------
# Does a render explain its unit? A judge model answers the 2-AFC task of the human studies.


def pool_responses(
    model: nn.Module | str | Prepared,
    targets: Sequence[str | Target],
    pool: NaturalPool | None = None,
    preprocess: object = None,
) -> torch.Tensor:
    """Each target's response to every crop of the pool, ``(N, T)``, computed in one pass for
    the targets not seen before with this model (the pool keeps them)."""
    pool = natural_pool() if pool is None else pool
    prepared = (
        _judge(model)
        if isinstance(model, str) and preprocess is None
        else prepare(model, preprocess=preprocess)
    )
    names = [str(t) for t in targets]
    known: dict[str, torch.Tensor] = {}
    setup = _setup(prepared)
    for name in names:
        cached = pool.cached(prepared.model, ("response", name, setup))
        if cached is not None:
            known[name] = cached
    missing = [name for name in dict.fromkeys(names) if name not in known]
    if missing:
        objectives = [as_objective(name) for name in missing]
        parts: list[list[torch.Tensor]] = [[] for _ in missing]

        def score(rows: slice, acts: dict[str, torch.Tensor]) -> None:
            batch = {**acts, INPUT: pool.images[rows].to(prepared.device)}
            for part, objective in zip(parts, objectives, strict=True):
                part.append(objective(batch).float().cpu())

        layers = set().union(*(objective.layers for objective in objectives))
        prepared.each_batch(pool.images, layers, score, 32)
        for name, part in zip(missing, parts, strict=True):
            known[name] = pool.store(prepared.model, ("response", name, setup), torch.cat(part))
    return torch.stack([known[name] for name in names], 1)


def judge_features(judge: nn.Module | str | Prepared, images: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """A judge model's pooled penultimate features of ``images``, L2-normalized, ``(N, D)``."""
    prepared = _judge(judge)
    if images.dim() == 3:
        images = images[None]
    if images.shape[1] == 1 and prepared.channels != 1:  # a grayscale model's renders
        images = images.expand(-1, prepared.channels, -1, -1)
    parts = [_features(prepared, images[i : i + batch]) for i in range(0, len(images), batch)]
    return F.normalize(torch.cat(parts), dim=1)


def _pool_features(judge: Prepared, pool: NaturalPool) -> torch.Tensor:
    key = ("features", _setup(judge))
    cached = pool.cached(judge.model, key)
    if cached is None:
        cached = pool.store(judge.model, key, judge_features(judge, pool.images))
    return cached


def _setup(prepared: Prepared) -> str:
    """What besides the module decides its activations on the pool: preprocessing and layouts."""
    return f"{prepared.preprocess.describe()}|{prepared.given_layouts!r}"


@dataclass(frozen=True)
class Interpretability:
    """The result of :func:`interpretability` and :func:`two_afc`: shares of query pairs answered right.

    Attributes:
        score: from the given references (the renders); 0.5 is chance.
        stderr: its standard error over the pairs, taken as independent (each crop is in
            several pairs, so the true error is somewhat larger).
        natural: ``{k: (score, stderr)}`` from the unit's top ``k`` natural crops instead.
        pairs: how many query pairs were asked.
    """

    score: float
    stderr: float
    natural: dict[int, tuple[float, float]]
    pairs: int


def interpretability(
    model: nn.Module | str | Prepared,
    target: str | Target,
    renders: torch.Tensor,
    *,
    pool: NaturalPool | None = None,
    judges: Sequence[nn.Module | str] = JUDGES,
    pairs: int = 200,
    exemplars: Sequence[int] = (1, 9),
    share: float = 0.05,
    seed: int = 0,
    preprocess: object = None,
) -> Interpretability:
    """Would a render help someone predict what excites its unit? A machine 2-AFC test.

    The human studies (Borowski et al. 2021) show people a unit's references and ask which of
    two new photos excites it more; MIS (Zimmermann et al. 2024) lets a model answer instead.
    Here: the pool's crops are ranked by the unit (:func:`pool_responses`), then :func:`two_afc`
    asks the questions. Each query pair is one crop from the top ``share`` and one from the
    bottom ``share``; a judge the render never used (Lite1 and Lite2 by default) picks the query
    whose pooled features are closer (cosine, mean over the references) to the references. The
    score is how often it picks the more exciting one, averaged over the judges; ties count half.
    The same pairs are asked with the unit's top ``k`` natural crops as references, taken only
    from photos other than the pair's two (so no reference is a crop or mirror image of a query):
    the natural-exemplar baseline.

    Args:
        renders: ``(K, 3, H, W)``, one or more renders of this unit (all are references).
        pool: the natural crops (default :func:`featviz.natural.natural_pool`).
        pairs: query pairs to ask (fewer if the pool has fewer).
        exemplars: the numbers of natural references for the baseline.

    Raises:
        InvalidArgumentError: ``share`` outside (0, 0.5], a unit that responds the same to the top
            and bottom crops, or a pool with too few photos for the exemplars (the message names
            the target).

    Example:
        >>> result = featviz.render(model, "blocks.4:12")
        >>> featviz.metrics.interpretability(model, "blocks.4:12", result.images)
        Interpretability(score=0.84, stderr=0.02, natural={1: (0.78, 0.03), 9: (0.88, 0.02)}, pairs=200)
    """
    pool = natural_pool() if pool is None else pool
    _check_share(share)
    responses = pool_responses(model, [target], pool, preprocess)[:, 0]
    try:
        return two_afc(
            responses,
            renders,
            pool=pool,
            judges=judges,
            pairs=pairs,
            exemplars=exemplars,
            share=share,
            seed=seed,
        )
    except InvalidArgumentError as error:
        raise type(error)(f"{target}: {error}") from None


def two_afc(
    responses: torch.Tensor,
    renders: torch.Tensor,
    *,
    pool: NaturalPool | None = None,
    judges: Sequence[nn.Module | str] = JUDGES,
    pairs: int = 200,
    exemplars: Sequence[int] = (1, 9),
    share: float = 0.05,
    seed: int = 0,
) -> Interpretability:
    """The 2-AFC test of :func:`interpretability` for any unit whose response to every crop of
    the pool is known — a channel (:func:`pool_responses`), a concept's mean code, a direction.

    Example:
        >>> responses = featviz.metrics.pool_responses(model, ["blocks.4:12"])[:, 0]
        >>> featviz.metrics.two_afc(responses, result.images)  # = interpretability(model, "blocks.4:12", ...)

    Args:
        responses: ``(N,)`` the unit's response to each of the pool's ``N`` crops, in the pool's
            order; larger is more exciting.
        renders: ``(K, 3, H, W)`` (or one ``(3, H, W)``), the references to judge from.
        pool: the natural crops the responses are of (default :func:`featviz.natural.natural_pool`).
        judges: the judge models (zoo names or modules), averaged over.
        pairs: query pairs to ask (fewer if the pool has fewer).
        exemplars: the numbers of natural references for the baseline.
        share: the top and bottom share of the ranked crops the queries come from.
        seed: of the generator that draws the pairs.

    Returns:
        An :class:`Interpretability`.

    Raises:
        InvalidArgumentError: ``share`` outside (0, 0.5], responses that are not one per crop,
            responses equal on the top and bottom crops (a dead unit), or a pool with too few
            photos for the exemplars.
    """
    pool = natural_pool() if pool is None else pool
    _check_share(share)
    if responses.shape != (len(pool),):
        raise InvalidArgumentError(
            f"responses must be one number per crop of the pool, shape ({len(pool)},), got "
            f"{tuple(responses.shape)}; take a column of pool_responses(model, targets, pool)"
        )
    if renders.dim() == 3:
        renders = renders[None]
    order = responses.argsort(descending=True)
    q = min(max(1, round(share * len(pool))), len(pool) // 2)
    top, bottom = order[:q], order[-q:]
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(q * q, generator=generator)
    positive, negative = top[chosen // q], bottom[chosen % q]
    differ = responses[positive] > responses[negative]  # a tie has no right answer: not asked
    positive, negative = positive[differ][:pairs], negative[differ][:pairs]
    if not len(positive):
        raise InvalidArgumentError(
            "the unit responds the same to the top and bottom crops of the pool (a dead unit?); "
            "there is nothing to tell apart"
        )
    chosen = positive
    sources = pool.source_ids()
    references = {k: _exemplars_beside(order, sources, positive, negative, k) for k in exemplars}
    ours = torch.zeros(len(chosen))
    natural = {k: torch.zeros(len(chosen)) for k in exemplars}
    for judge in judges:
        prepared = _judge(judge)
        feats = _pool_features(prepared, pool)
        prototype = judge_features(prepared, renders).mean(0)
        ours += _answers(feats[positive] @ prototype, feats[negative] @ prototype) / len(judges)
        for k, refs in references.items():
            prototypes = feats[refs].mean(1)  # (P, D)
            pos = (feats[positive] * prototypes).sum(1)
            neg = (feats[negative] * prototypes).sum(1)
            natural[k] += _answers(pos, neg) / len(judges)
    return Interpretability(*_share(ours), {k: _share(v) for k, v in natural.items()}, len(chosen))


def _check_share(share: float) -> None:
    if not 0 < share <= 0.5:
        raise InvalidArgumentError(f"share must be in (0, 0.5], got {share!r}")


def _exemplars_beside(
    order: torch.Tensor, sources: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, k: int
) -> torch.Tensor:
    """For each pair, the indices of the ``k`` most exciting crops from other photos, ``(P, k)``."""
    ranked = sources[order]
    rows = []
    for pos, neg in zip(positive.tolist(), negative.tolist(), strict=True):
        allowed = (ranked != sources[pos]) & (ranked != sources[neg])
        picked = order[allowed][:k]
        if len(picked) < k:
            raise InvalidArgumentError(
                f"the natural pool has too few crops outside the query photos for {k} references; "
                "use a pool with more photos (natural_pool(folder))"
            )
        rows.append(picked)
    return torch.stack(rows)


def _answers(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    return (positive > negative).float() + 0.5 * (positive == negative).float()


def _share(outcomes: torch.Tensor) -> tuple[float, float]:
    n = len(outcomes)
    stderr = float(outcomes.std(unbiased=True) / n**0.5) if n > 1 else float("nan")
    return float(outcomes.mean()), stderr


# ---------------------------------------------------------------------------------------------
# Is the render processed like natural images? (Geirhos et al. 2024)


@dataclass(frozen=True)
class PathSimilarity:
    """The result of :func:`path_similarity`.

    Attributes:
        layers: the layers compared, in execution order (the unit's own layer last).
        top: per layer, mean cosine between the render and the unit's top natural crops.
        random: per layer, mean cosine between the render and random natural crops.
        margin: mean over the layers of ``top - random`` (> 0: the render takes the top
            exemplars' path more than a random photo's).
        natural_margin: the same margin for the unit's next-best natural crops from photos
            other than the top crops' (when the pool has such) in place of the render — what a
            real exciting image reaches.
    """

    layers: tuple[str, ...]
    top: tuple[float, ...]
    random: tuple[float, ...]
    margin: float
    natural_margin: float


def layers_below(model: nn.Module | str | Prepared, layer: str) -> list[str]:
    """The layers beside ``layer`` (same parent module) that run before it, then ``layer``
    (``blocks.4`` → ``blocks.0`` … ``blocks.4``); for the model's output, its top-level layers."""
    table = prepare(model).layers()
    names = table.names()
    if layer == OUTPUT:
        return [name for name in names if "." not in name]
    if layer not in names:
        return [layer]
    parent = layer.rpartition(".")[0]
    before = names[: names.index(layer)]
    return [name for name in before if name.rpartition(".")[0] == parent and name != parent] + [layer]


def path_similarity(
    model: nn.Module | str | Prepared,
    target: str | Target,
    image: torch.Tensor,
    *,
    layers: Sequence[str] | None = None,
    pool: NaturalPool | None = None,
    exemplars: int = 9,
    randoms: int = 32,
    seed: int = 0,
    preprocess: object = None,
) -> PathSimilarity:
    """Geirhos et al.'s (2024) sanity check: are the render's activations in the layers below its
    unit like those of the unit's top natural crops, more than like a random photo's?

    Each layer's activation is averaged over space to one value per channel and standardized
    with the pool's mean and spread, then compared by cosine similarity.

    Args:
        image: one render, ``(3, H, W)`` or ``(1, 3, H, W)``.
        layers: the layers to compare (default :func:`layers_below` the unit's layer).
        exemplars: the unit's top crops to compare with; the next ``exemplars`` calibrate.
        randoms: random crops, outside the top and the calibrating exemplars, to compare with.

    Raises:
        InvalidArgumentError: the pool is too small for the exemplars and random crops.
    """
    pool = natural_pool() if pool is None else pool
    prepared = prepare(model, preprocess=preprocess)
    objective = as_objective(target)
    layer = sorted(objective.layers)[0] if objective.layers else OUTPUT
    names = list(layers) if layers is not None else layers_below(prepared, layer)
    image = image[None] if image.dim() == 3 else image[:1]
    order = pool_responses(prepared, [target], pool, preprocess)[:, 0].argsort(descending=True)
    top = order[:exemplars]
    sources = pool.source_ids()
    elsewhere = order[exemplars:][~torch.isin(sources[order[exemplars:]], sources[top])]
    nxt = (elsewhere if len(elsewhere) >= exemplars else order[exemplars:])[:exemplars]
    rest = order[~torch.isin(order, torch.cat([top, nxt]))]
    if len(nxt) < exemplars or len(rest) < 2:
        raise InvalidArgumentError(
            f"the natural pool ({len(pool)} crops) is too small for {exemplars} exemplars, as many "
            "to calibrate and random crops; use fewer exemplars or a larger pool"
        )
    generator = torch.Generator().manual_seed(seed)
    random = rest[torch.randperm(len(rest), generator=generator)[:randoms]]
    ours = _pooled(prepared.activations(quantize(image), names))
    statistics = _pool_layers(prepared, pool, names)
    tops, randoms_, margins, natural_margins = [], [], [], []
    for name in names:
        feats, mean, std = statistics[name]
        z = F.normalize((ours[name] - mean) / std, dim=1)  # (1, C)
        sims_top = float((z @ feats[top].T).mean())
        sims_random = float((z @ feats[random].T).mean())
        tops.append(sims_top)
        randoms_.append(sims_random)
        margins.append(sims_top - sims_random)
        natural = (feats[nxt] @ feats[top].T).mean() - (feats[nxt] @ feats[random].T).mean()
        natural_margins.append(float(natural))
    margin, natural_margin = sum(margins) / len(names), sum(natural_margins) / len(names)
    return PathSimilarity(tuple(names), tuple(tops), tuple(randoms_), margin, natural_margin)


def _pooled(acts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One value per channel: the mean over space (or tokens)."""
    pooled = {}
    for name, act in acts.items():
        if act.dim() == 4:  # (B, C, H, W)
            act = act.flatten(2).mean(2)
        elif act.dim() == 3:  # tokens (B, T, C)
            act = act.mean(1)
        pooled[name] = act.flatten(1).float().cpu()
    return pooled


def _pool_layers(
    prepared: Prepared, pool: NaturalPool, layers: Sequence[str]
) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per layer: the pool's standardized, L2-normalized pooled activations, and the mean and
    spread used to standardize (layers not seen before are computed in one pass)."""
    pooled: dict[str, torch.Tensor] = {}
    for layer in layers:
        cached = pool.cached(prepared.model, ("pooled", layer, _setup(prepared)))
        if cached is not None:
            pooled[layer] = cached
    missing = [layer for layer in dict.fromkeys(layers) if layer not in pooled]
    if missing:
        parts: list[dict[str, torch.Tensor]] = []
        prepared.each_batch(pool.images, set(missing), lambda rows, acts: parts.append(_pooled(acts)), 32)
        for layer in missing:
            joined = torch.cat([part[layer] for part in parts])
            pooled[layer] = pool.store(prepared.model, ("pooled", layer, _setup(prepared)), joined)
    result = {}
    for layer in layers:
        mean = pooled[layer].mean(0, keepdim=True)
        std = pooled[layer].std(0, keepdim=True).clamp(min=1e-6)
        result[layer] = (F.normalize((pooled[layer] - mean) / std, dim=1), mean, std)
    return result
