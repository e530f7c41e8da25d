"""Linear probes: how well a layer's pooled features read a set of labels, how sure that is, and
which layers read them as well as the best one.

A probe (:func:`linear_probe`) is, by default, multinomial logistic regression from standardized
features to the labels with an L2 penalty and an unpenalized intercept (``method="logistic"``, the
model scikit-learn's ``LogisticRegression`` fits); ``method="ridge"`` is ridge regression to one-hot
labels in closed form (faster, but it under-reads features that separate the classes
non-linearly in score: on scikit-learn's digits through EfficientNet-Lite0's early blocks it fell
below the logistic probe's interval). Its statistical choices:

* **Splits.** ``splits`` repeats (default :data:`SPLITS`) of a stratified split: in each class a
  :data:`HELD_OUT` share of the images (at least one) is held out and the rest (at least two)
  trains. The splits depend only on the labels and the seed, so every layer probed with the same
  labels and seed is scored on the same images (equal ``ProbeResult.splits_key``), which is what
  :func:`compare_to_best` pairs on.
* **Penalty, logistic.** λ (the loss is the sum of the training images' cross-entropies plus λ/2
  times the sum of squared weights: scikit-learn's ``1/C`` on standardized features) is chosen in
  each split from :data:`LOGISTIC_PENALTIES` by :data:`FOLDS`-fold stratified cross-validation on
  the training images only, by the held-out cross-entropy (a proper score, with fewer ties than
  accuracy), then refit on all the training images. Fits are by L-BFGS in float64 to a gradient of
  1e-5 (at most :data:`MAX_ITERATIONS` iterations), warm-started along the penalties from the
  strongest. Ties go to the larger λ.
* **Penalty, ridge.** λ (the loss is the sum of squared errors plus λ times the sum of squared
  weights: scikit-learn's ``alpha`` on standardized features) is chosen in each split from
  :data:`PENALTIES` by leave-one-out cross-validation on the training images only. The criterion is
  the squared error of the one-hot targets, exact and in closed form for every λ from one
  eigendecomposition per split (Golub, Heath & Wahba 1979; the criterion of scikit-learn's
  ``RidgeClassifierCV``). Ties go to the larger λ.
* **Interval.** The accuracy is the mean held-out accuracy over the splits; its interval is the
  wider of the t-interval over the splits with the variance corrected for their overlap,
  ``(1/J + n_test/n_train)·s²`` (Nadeau & Bengio 2003), and the Wilson interval of a single
  held-out set (the splits share their images, so together they are no surer than one held-out set).
* **Significance.** The null is "the labels cannot be read from the features". The held-out
  predictions come from a probe fit on the training images alone, so under the null the held-out
  labels are a random arrangement over the held-out images. Each split's p-value comes from
  ``permutations`` re-arrangements of its held-out labels against the fixed predictions (an exact
  conditional permutation test that needs no refit; ``(1 + #{≥ observed}) / (1 + permutations)``).
  The splits' p-values are dependent, so they are merged with Rüger's rule, valid under any
  dependence: ``min(1, J/k · p_(k))`` with ``k = ⌈J/2⌉`` (the median split's, times 5/3 for 5).
* **Layers.** :func:`compare_to_best` is a one-sided paired t-test over the shared splits with the
  same overlap correction; :func:`freeze_advice` applies Holm's correction over the layers' p-values
  and picks the earliest readable layer not significantly worse than the best readable one.

Example::

    results = {layer: linear_probe(features[layer], labels) for layer in layers}  # depth order
    advice = freeze_advice(results)
    advice.layer  # None when no layer reads the labels better than chance
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from featviz.errors import InvalidArgumentError

#: Share of each class held out to score the probe in each split.
HELD_OUT = 0.3
#: Stratified train/test repeats of a probe.
SPLITS = 5
#: The probe's estimators: multinomial logistic regression (the default) or ridge to one-hot labels.
METHODS = ("logistic", "ridge")
#: The ridge penalties λ tried by cross-validation: 10⁻³ … 10⁶, three per decade.
PENALTIES: tuple[float, ...] = tuple(10.0 ** (k / 3) for k in range(-9, 19))
#: The logistic penalties λ (scikit-learn's 1/C) tried by cross-validation: 10⁴ … 10⁻⁴, one per
#: decade, strongest first (the order of the warm starts).
LOGISTIC_PENALTIES: tuple[float, ...] = tuple(10.0**k for k in range(4, -5, -1))
#: L-BFGS iterations at most per logistic fit.
MAX_ITERATIONS = 300
#: Folds of the logistic probe's cross-validation inside each training split.
FOLDS = 3
#: Re-arrangements of the held-out labels per split for the test against chance.
PERMUTATIONS = 999
#: Level of the confidence intervals.
CONFIDENCE = 0.95
#: Significance level of the test against chance and of the comparison with the best layer.
ALPHA = 0.05


@dataclass(frozen=True)
class ProbeResult:
    """How well one layer's features read the labels (see :func:`linear_probe`).

    Attributes:
        accuracy: mean held-out accuracy over the splits.
        ci_low, ci_high: its :data:`CONFIDENCE` interval.
        stderr: its standard error (overlap-corrected spread over splits, at least binomial).
        chance: the held-out share of the most common class.
        p_value: the test against "the labels cannot be read" (merged over splits).
        penalty: the median over splits of the λ chosen by cross-validation.
        method: the estimator, one of :data:`METHODS`.
        split_accuracies, split_penalties, split_p_values: per split.
        n_train, n_test: images trained on and held out in each split.
        splits_key: identifies the splits; results with equal keys were scored on the same images.
    """

    accuracy: float
    ci_low: float
    ci_high: float
    stderr: float
    chance: float
    p_value: float
    penalty: float
    split_accuracies: tuple[float, ...]
    split_penalties: tuple[float, ...]
    split_p_values: tuple[float, ...]
    n_train: int
    n_test: int
    splits_key: str
    method: str = "logistic"

    def to_dict(self) -> dict[str, float | int | str | list[float]]:
        """Plain numbers (tuples as lists) for a JSON record."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class BestComparison:
    """Each layer against the layer that reads the labels best (see :func:`compare_to_best`).

    Attributes:
        best: the layer with the highest mean accuracy (the earliest on a tie).
        differences: per layer, the best's accuracy minus its accuracy, mean over the splits.
        p_values: per layer, the one-sided p-value of "it reads them worse than the best".
        not_worse: the layers not significantly worse than the best, in the order given.
    """

    best: str
    differences: dict[str, float]
    p_values: dict[str, float]
    not_worse: tuple[str, ...]


@dataclass(frozen=True)
class FreezeAdvice:
    """What the probes say about where to stop freezing; the prose is the report's.

    Attributes:
        readable: whether any layer reads the labels better than chance (Holm-adjusted p < alpha).
        layer: the earliest readable layer not significantly worse than the best; None if none.
        best: the readable layer with the highest accuracy; None if none.
        accuracy, best_accuracy: their mean accuracies (NaN when not readable).
        difference: ``best_accuracy - accuracy`` paired over splits; its one-sided p-value in
            ``difference_p_value`` (NaN when not readable).
        chance: the held-out share of the most common class.
        adjusted_p_values: each layer's p-value against chance after Holm's correction.
        not_worse: the readable layers not significantly worse than the best, in depth order.
        alpha: the significance level used.
    """

    readable: bool
    layer: str | None
    best: str | None
    accuracy: float
    best_accuracy: float
    difference: float
    difference_p_value: float
    chance: float
    adjusted_p_values: dict[str, float]
    not_worse: tuple[str, ...]
    alpha: float

    def to_dict(self) -> dict[str, object]:
        """Plain values (tuples as lists) for a JSON record."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    seed: int = 0,
    splits: int = SPLITS,
    permutations: int = PERMUTATIONS,
    method: str = "logistic",
) -> ProbeResult:
    """A linear probe with its penalty chosen by cross-validation, scored over repeated splits,
    with an interval and a test against chance (the choices are in the module's docstring).

    Example::

        result = linear_probe(pooled, labels)          # pooled: (images, channels)
        result.accuracy, result.ci_low, result.p_value

    Args:
        features: ``(images, features)``, finite.
        labels: ``(images,)`` integer class labels; every class needs at least 3 images (2 to
            train on and 1 to hold out in every split).
        seed: seeds the splits and the permutations; probe every layer with the same seed (and
            labels, and ``splits``) to compare layers.
        splits: stratified train/test repeats (at least 2).
        permutations: re-arrangements of the held-out labels per split (at least 19; the smallest
            p-value is about ``1 / permutations``).
        method: ``"logistic"`` (multinomial logistic regression) or ``"ridge"`` (ridge to one-hot
            labels, in closed form); the splits are the same for both.

    Returns:
        A :class:`ProbeResult`.

    Raises:
        InvalidArgumentError: shapes that do not match, non-finite features, fewer than two
            classes, a class too small to split, too few splits or permutations, or an unknown
            method.
    """
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    x, classes, counts = _checked(features, labels, splits, permutations)
    onehot = F.one_hot(classes, len(counts)).double()
    generator = torch.Generator().manual_seed(seed)
    split_rows = _draw_splits(classes, counts, splits, generator)
    accuracies, penalties, p_values = [], [], []
    for train, test in split_rows:
        if method == "ridge":
            predicted, penalty = _ridge_split(x, onehot, train, test)
        else:
            predicted, penalty = _logistic_split(x, classes, len(counts), train, test, generator)
        truth = classes[test]
        accuracies.append(float((predicted == truth).double().mean()))
        penalties.append(penalty)
        p_values.append(_permutation_p(predicted, truth, permutations, generator))
    n_train, n_test = len(split_rows[0][0]), len(split_rows[0][1])
    accuracy = statistics.fmean(accuracies)
    spread = statistics.stdev(accuracies) * math.sqrt(1 / splits + n_test / n_train)
    t = _t_quantile(0.5 + CONFIDENCE / 2, splits - 1)
    wilson_low, wilson_high = _wilson(accuracy, n_test)
    k = math.ceil(splits / 2)
    key = hashlib.sha1(b"".join(test.numpy().tobytes() for _, test in split_rows)).hexdigest()[:16]
    return ProbeResult(
        accuracy=accuracy,
        ci_low=max(0.0, min(accuracy - t * spread, wilson_low)),
        ci_high=min(1.0, max(accuracy + t * spread, wilson_high)),
        stderr=max(spread, math.sqrt(accuracy * (1 - accuracy) / n_test)),
        chance=max(_held(counts)) / n_test,
        p_value=min(1.0, splits / k * sorted(p_values)[k - 1]),
        penalty=statistics.median(penalties),
        split_accuracies=tuple(accuracies),
        split_penalties=tuple(penalties),
        split_p_values=tuple(p_values),
        n_train=n_train,
        n_test=n_test,
        splits_key=f"{len(classes)}:{key}",
        method=method,
    )


def stratified_splits(
    labels: torch.Tensor, seed: int = 0, splits: int = SPLITS
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The ``(train rows, held-out rows)`` of each split :func:`linear_probe` scores on, for the
    same labels, seed and number of splits (to score another method on the same images).

    Raises:
        InvalidArgumentError: as :func:`linear_probe`, for the labels.
    """
    _, classes, counts = _checked(torch.zeros(len(labels), 1), labels, splits, PERMUTATIONS)
    return _draw_splits(classes, counts, splits, torch.Generator().manual_seed(seed))


def probe(features: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> tuple[float, float, float]:
    """:func:`linear_probe`'s headline numbers ``(accuracy, standard error, chance)``.

    Raises:
        InvalidArgumentError: as :func:`linear_probe`.
    """
    result = linear_probe(features, labels, seed)
    return result.accuracy, result.stderr, result.chance


def compare_to_best(results: Mapping[str, ProbeResult], alpha: float = ALPHA) -> BestComparison:
    """Which layers read the labels as well as the best one: a one-sided paired t-test over the
    shared splits of "this layer is worse than the best", its variance corrected for the splits'
    overlap (Nadeau & Bengio 2003), and at least one held-out image's worth so that identical
    differences on every split do not give p = 0.

    Args:
        results: per layer (any order) a :class:`ProbeResult`, all from the same labels, seed and
            number of splits.
        alpha: a layer whose p-value is below it is significantly worse than the best.

    Returns:
        A :class:`BestComparison`.

    Raises:
        InvalidArgumentError: no results, or results scored on different splits.
    """
    _check_same_splits(results)
    best = max(results, key=lambda layer: results[layer].accuracy)
    top = results[best]
    differences, p_values = {}, {}
    for layer, result in results.items():
        gaps = [a - b for a, b in zip(top.split_accuracies, result.split_accuracies, strict=True)]
        differences[layer] = statistics.fmean(gaps)
        if layer == best:
            p_values[layer] = 1.0
            continue
        spread = max(statistics.stdev(gaps), 1 / top.n_test)
        error = spread * math.sqrt(1 / len(gaps) + top.n_test / top.n_train)
        p_values[layer] = 1 - _t_cdf(differences[layer] / error, len(gaps) - 1)
    not_worse = tuple(layer for layer in results if p_values[layer] >= alpha)
    return BestComparison(best=best, differences=differences, p_values=p_values, not_worse=not_worse)


def freeze_advice(results: Mapping[str, ProbeResult], alpha: float = ALPHA) -> FreezeAdvice:
    """Where the probes say to stop freezing: the earliest layer that reads the labels better than
    chance and not significantly worse than the best such layer, or "no layer reads them".

    A layer reads the labels when its p-value against chance, adjusted by Holm's step-down
    correction over the layers (Holm 1979), is below ``alpha`` (no layer does exactly when the
    smallest p-value times the number of layers is not below ``alpha``, as with Bonferroni).
    Layers are then compared to the best readable one with :func:`compare_to_best`.

    Example::

        advice = freeze_advice({"blocks.3": r3, "blocks.4": r4, "blocks.5": r5})
        advice.layer, advice.accuracy, advice.best, advice.best_accuracy

    Args:
        results: per layer in depth order, a :class:`ProbeResult` from the same labels and seed.
        alpha: the significance level of both tests.

    Returns:
        A :class:`FreezeAdvice` (``layer`` is None when no layer reads the labels).

    Raises:
        InvalidArgumentError: no results, or results scored on different splits.
    """
    _check_same_splits(results)
    adjusted = dict(zip(results, _holm([r.p_value for r in results.values()]), strict=True))
    readable = {layer: result for layer, result in results.items() if adjusted[layer] < alpha}
    chance = next(iter(results.values())).chance
    if not readable:
        nan = float("nan")
        return FreezeAdvice(False, None, None, nan, nan, nan, nan, chance, adjusted, (), alpha)
    comparison = compare_to_best(readable, alpha)
    layer = comparison.not_worse[0]
    return FreezeAdvice(
        readable=True,
        layer=layer,
        best=comparison.best,
        accuracy=readable[layer].accuracy,
        best_accuracy=readable[comparison.best].accuracy,
        difference=comparison.differences[layer],
        difference_p_value=comparison.p_values[layer],
        chance=chance,
        adjusted_p_values=adjusted,
        not_worse=comparison.not_worse,
        alpha=alpha,
    )


# -- the pieces ------------------------------------------------------------------------------------


def _checked(
    features: torch.Tensor, labels: torch.Tensor, splits: int, permutations: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features as CPU float64, labels as class indices 0..K-1, and the count of each class."""
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        raise InvalidArgumentError(
            f"features must be a 2-D (images, features) tensor, got {_described(features)}; pool "
            "each image's activations to one vector first"
        )
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point():
        raise InvalidArgumentError(
            f"labels must be a 1-D tensor of integer class labels, got {_described(labels)}; give "
            "one class index per image"
        )
    if len(labels) != len(features):
        raise InvalidArgumentError(
            f"features has {len(features)} rows (images) but labels has {len(labels)} entries; "
            "give exactly one label per image"
        )
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 2:
        raise InvalidArgumentError(f"splits must be an int >= 2 (to measure a spread), got {splits!r}")
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 19:
        raise InvalidArgumentError(
            f"permutations must be an int >= 19 (a p-value below 0.05 needs them), got {permutations!r}"
        )
    x = features.detach().to(device="cpu", dtype=torch.float64)
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = torch.nonzero(bad.any(1)).flatten()
        raise InvalidArgumentError(
            f"features has {int(bad.sum())} non-finite values (NaN or inf) in {len(rows)} images "
            f"(first: row {int(rows[0])}); drop those images or fix the features before probing"
        )
    values, classes, counts = torch.unique(labels.detach().cpu(), return_inverse=True, return_counts=True)
    if len(values) < 2:
        raise InvalidArgumentError(
            f"labels holds a single class ({values.tolist()}); a probe needs at least two classes"
        )
    small = [
        (int(v), int(n)) for v, n, h in zip(values, counts, _held(counts), strict=True) if int(n) - h < 2
    ]
    if small:
        raise InvalidArgumentError(
            f"classes too small to split (class: images) {dict(small)}; every class needs at least 3 "
            "images (2 to train on and 1 to hold out in every split): add images or drop those classes"
        )
    return x, classes, counts


def _described(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _held(counts: torch.Tensor) -> list[int]:
    """Images held out of each class in every split."""
    return [max(1, round(int(n) * HELD_OUT)) for n in counts]


def _draw_splits(
    classes: torch.Tensor, counts: torch.Tensor, splits: int, generator: torch.Generator
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Stratified ``(train rows, held-out rows)``, sorted, for each split."""
    held = _held(counts)
    members = [torch.nonzero(classes == k).flatten() for k in range(len(counts))]
    drawn = []
    for _ in range(splits):
        orders = [rows[torch.randperm(len(rows), generator=generator)] for rows in members]
        test = torch.cat([order[:h] for order, h in zip(orders, held, strict=True)]).sort().values
        train = torch.cat([order[h:] for order, h in zip(orders, held, strict=True)]).sort().values
        drawn.append((train, test))
    return drawn


def _check_same_splits(results: Mapping[str, ProbeResult]) -> None:
    if not results:
        raise InvalidArgumentError("no probe results given; give one ProbeResult per layer")
    keys = {(r.splits_key, len(r.split_accuracies)) for r in results.values()}
    if len(keys) > 1:
        raise InvalidArgumentError(
            f"the probe results were scored on {len(keys)} different sets of splits; probe every "
            "layer with the same labels, seed and number of splits to compare them"
        )


def _standardized(
    x: torch.Tensor, train: torch.Tensor, test: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training and held-out rows standardized by the training rows' mean and spread."""
    rows = x[train]
    mean = rows.mean(0)
    std = rows.std(0, correction=0)
    # A column whose spread is below float32 resolution of its values is constant as given.
    constant = std <= 1e-7 * rows.abs().amax(0)
    std = torch.where(constant, torch.ones_like(std), std)
    z = ((rows - mean) / std).masked_fill(constant, 0.0)
    return z, ((x[test] - mean) / std).masked_fill(constant, 0.0)


def _logistic_split(
    x: torch.Tensor,
    classes: torch.Tensor,
    n_classes: int,
    train: torch.Tensor,
    test: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, float]:
    """The held-out rows' predicted classes and the penalty chosen by stratified k-fold
    cross-validation of the held-out cross-entropy on the training rows."""
    z, z_test = _standardized(x, train, test)
    y = classes[train]
    fold = torch.empty(len(y), dtype=torch.long)
    for k in range(n_classes):
        rows = torch.nonzero(y == k).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        fold[rows] = torch.arange(len(rows)) % FOLDS
    losses = torch.zeros(len(LOGISTIC_PENALTIES), dtype=torch.float64)
    for f in range(FOLDS):
        inner, outer = fold != f, fold == f
        weights = None
        for i, penalty in enumerate(LOGISTIC_PENALTIES):
            weights = _fit_logistic(z[inner], y[inner], n_classes, penalty, weights)
            logits = z[outer] @ weights[:-1] + weights[-1]
            losses[i] += F.cross_entropy(logits, y[outer], reduction="sum")
    best = float(losses.min())
    index = min(i for i, loss in enumerate(losses.tolist()) if loss <= best * (1 + 1e-9))
    penalty = LOGISTIC_PENALTIES[index]
    weights = _fit_logistic(z, y, n_classes, penalty, None)
    return (z_test @ weights[:-1] + weights[-1]).argmax(1), penalty


def _fit_logistic(
    z: torch.Tensor, y: torch.Tensor, n_classes: int, penalty: float, start: torch.Tensor | None
) -> torch.Tensor:
    """Multinomial logistic regression's ``(features + 1, classes)`` weights, the intercept last,
    minimizing the summed cross-entropy plus ``penalty / 2`` times the squared weights (scaled by
    1/n for the optimizer), by L-BFGS from ``start`` (zeros when None)."""
    n, d = z.shape
    weights = torch.zeros(d + 1, n_classes, dtype=torch.float64) if start is None else start.clone()
    weights.requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [weights],
        max_iter=MAX_ITERATIONS,
        tolerance_grad=1e-5,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(z @ weights[:-1] + weights[-1], y, reduction="sum")
        value = (value + penalty / 2 * weights[:-1].pow(2).sum()) / n
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    return weights.detach()


def _ridge_split(
    x: torch.Tensor, onehot: torch.Tensor, train: torch.Tensor, test: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """The held-out rows' predicted classes and the penalty chosen by leave-one-out on the training
    rows, from one eigendecomposition of the standardized training features' Gram matrix."""
    z, z_test = _standardized(x, train, test)
    targets = onehot[train]
    intercept = targets.mean(0)
    centred = targets - intercept
    n, d = z.shape
    # z = u diag(sqrt(s2)) vᵀ, from the smaller of the two Gram matrices.
    if n <= d:
        s2, u = torch.linalg.eigh(z @ z.T)
        keep = s2 > 1e-10 * max(float(s2.max()), 1.0)
        s2, u = s2[keep], u[:, keep]
        v = z.T @ u / s2.sqrt()
    else:
        s2, v = torch.linalg.eigh(z.T @ z)
        keep = s2 > 1e-10 * max(float(s2.max()), 1.0)
        s2, v = s2[keep], v[:, keep]
        u = z @ v / s2.sqrt()
    projected = u.T @ centred
    squares = u * u
    errors = []
    for penalty in PENALTIES:
        shrink = s2 / (s2 + penalty)
        fitted = u @ (shrink[:, None] * projected)
        # The intercept's leverage is 1/n (the centred columns are orthogonal to the constant).
        leverage = 1 / n + squares @ shrink
        residuals = (centred - fitted) / (1 - leverage).clamp_min(1e-12)[:, None]
        errors.append(float(residuals.pow(2).sum()))
    best = min(errors)
    index = max(i for i, error in enumerate(errors) if error <= best)
    penalty = PENALTIES[index]
    scores = intercept + (z_test @ v) @ ((s2.sqrt() / (s2 + penalty))[:, None] * projected)
    return scores.argmax(1), penalty


def _permutation_p(
    predicted: torch.Tensor, truth: torch.Tensor, permutations: int, generator: torch.Generator
) -> float:
    """The p-value of the held-out predictions' correct count against random re-arrangements of
    the held-out labels (the predictions stay fixed), with the +1 correction."""
    observed = int((predicted == truth).sum())
    n = len(truth)
    at_least, done = 0, 0
    chunk = max(1, (1 << 21) // n)
    while done < permutations:
        count = min(chunk, permutations - done)
        order = torch.rand(count, n, generator=generator).argsort(1)
        at_least += int(((truth[order] == predicted).sum(1) >= observed).sum())
        done += count
    return (1 + at_least) / (1 + permutations)


def _wilson(proportion: float, n: int) -> tuple[float, float]:
    """The Wilson score interval of a proportion seen in ``n`` trials."""
    z = statistics.NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    centre = (proportion + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(proportion * (1 - proportion) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with an integer number of degrees of freedom, by the finite
    series of Abramowitz & Stegun 26.7.3 (odd) and 26.7.4 (even)."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    theta = math.atan2(abs(t), math.sqrt(df))
    c2 = math.cos(theta) ** 2
    total = term = 1.0
    if df % 2:
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        inside = 2 / math.pi * (theta + (math.sin(theta) * math.cos(theta) * total if df > 1 else 0.0))
    else:
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        inside = math.sin(theta) * total
    return 0.5 + inside / 2 if t >= 0 else 0.5 - inside / 2


def _t_quantile(q: float, df: int) -> float:
    """The ``q`` quantile (q > 0.5) of Student's t, by bisection on :func:`_t_cdf`."""
    low, high = 0.0, 1e4
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_cdf(middle, df) < q else (low, middle)
    return (low + high) / 2


def _holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given."""
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "FOLDS",
    "HELD_OUT",
    "LOGISTIC_PENALTIES",
    "METHODS",
    "PENALTIES",
    "PERMUTATIONS",
    "SPLITS",
    "BestComparison",
    "FreezeAdvice",
    "ProbeResult",
    "compare_to_best",
    "freeze_advice",
    "linear_probe",
    "probe",
    "stratified_splits",
]
