"""featviz.analysis.probes: agreement with scikit-learn on the same splits, the penalty chosen by
cross-validation, the test against chance, the comparison of layers and the freezing advice."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeClassifierCV
from sklearn.preprocessing import StandardScaler

from featviz.analysis import probes
from featviz.analysis.probes import (
    ProbeResult,
    compare_to_best,
    freeze_advice,
    linear_probe,
    probe,
    stratified_splits,
)
from featviz.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits (1797 × 64) and a wide nonlinear "layer" of them (ReLU of a random
    projection to 256 features)."""
    x, y = load_digits(return_X_y=True)
    pixels = torch.tensor(x, dtype=torch.float32)
    projection = torch.randn(64, 256, generator=torch.Generator().manual_seed(0)) / 8
    return pixels, (pixels @ projection).relu(), torch.tensor(y)


def _blobs(n: int, classes: int, informative: int, noise: int, spread: float, seed: int):
    """Class centres in ``informative`` dimensions plus ``noise`` pure-noise dimensions."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    centres = torch.randn(classes, informative, generator=generator) * spread
    signal = centres[labels] + torch.randn(n, informative, generator=generator)
    return torch.cat([signal, torch.randn(n, noise, generator=generator)], 1), labels


def _sklearn_on_splits(features: torch.Tensor, labels: torch.Tensor, seed: int = 0):
    """RidgeClassifierCV (leave-one-out over the same λ grid) and LogisticRegression, standardized
    on each training split, scored on the same held-out images as the probe."""
    x, y = features.double().numpy(), labels.numpy()
    ridge, penalties, logistic = [], [], []
    for train, test in stratified_splits(labels, seed):
        scaler = StandardScaler().fit(x[train])
        a, b = scaler.transform(x[train]), scaler.transform(x[test])
        model = RidgeClassifierCV(alphas=np.array(probes.PENALTIES)).fit(a, y[train])
        ridge.append(model.score(b, y[test]))
        penalties.append(float(model.alpha_))
        logistic.append(LogisticRegression(max_iter=3000).fit(a, y[train]).score(b, y[test]))
    return ridge, penalties, float(np.mean(logistic))


def _result(accuracies: list[float], p_value: float = 0.001, key: str = "k") -> ProbeResult:
    """A hand-made result with 300 training and 100 held-out images per split."""
    mean = float(np.mean(accuracies))
    return ProbeResult(
        accuracy=mean,
        ci_low=mean,
        ci_high=mean,
        stderr=0.0,
        chance=0.5,
        p_value=p_value,
        penalty=1.0,
        split_accuracies=tuple(accuracies),
        split_penalties=(1.0,) * len(accuracies),
        split_p_values=(p_value,) * len(accuracies),
        n_train=300,
        n_test=100,
        splits_key=key,
    )


# -- known answers and independent references ------------------------------------------------------


@pytest.mark.parametrize("which", ["pixels", "layer"])
def test_ridge_agrees_with_sklearn_on_the_same_splits(digits, which: str) -> None:
    pixels, layer, labels = digits
    features = pixels if which == "pixels" else layer
    result = linear_probe(features, labels, method="ridge")
    ridge, penalties, logistic = _sklearn_on_splits(features, labels)
    assert result.method == "ridge"
    # Same estimator, same criterion: the same λ and the same held-out answers (measured: identical).
    assert list(result.split_penalties) == pytest.approx(penalties)
    assert max(abs(a - b) for a, b in zip(result.split_accuracies, ridge, strict=True)) <= 1 / result.n_test
    assert result.ci_low <= float(np.mean(ridge)) <= result.ci_high
    # A different estimator: logistic regression reads as well, within the interval on the layer
    # (measured 0.981 vs 0.985) and within 0.03 on raw pixels (0.964 vs 0.938, ridge's known gap).
    if which == "layer":
        assert result.ci_low <= logistic <= result.ci_high
    assert abs(logistic - result.accuracy) < 0.03
    assert result.chance == pytest.approx(0.102, abs=0.001) and result.p_value < 0.01
    assert result.n_train + result.n_test == len(labels)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # scikit-learn's notices of changing defaults
@pytest.mark.parametrize("which", ["pixels", "layer"])
def test_logistic_equals_sklearns_logistic_regression_at_the_chosen_penalty(digits, which: str) -> None:
    """The default probe: on each split, scikit-learn's LogisticRegression at C = 1/λ (the λ the
    probe's cross-validation chose) gives the same held-out answers (measured: at most one image
    in 539 differs, from the optimizers' tolerances), and LogisticRegressionCV on the same splits
    lies inside the probe's interval."""
    pixels, layer, labels = digits
    features = pixels if which == "pixels" else layer
    result = linear_probe(features, labels)
    assert result.method == "logistic"
    assert set(result.split_penalties) <= set(probes.LOGISTIC_PENALTIES)
    x, y = features.double().numpy(), labels.numpy()
    cross_validated = []
    for (train, test), penalty, accuracy in zip(
        stratified_splits(labels), result.split_penalties, result.split_accuracies, strict=True
    ):
        scaler = StandardScaler().fit(x[train])
        a, b = scaler.transform(x[train]), scaler.transform(x[test])
        same = LogisticRegression(C=1 / penalty, max_iter=5000, tol=1e-8).fit(a, y[train])
        assert abs(same.score(b, y[test]) - accuracy) <= 2 / result.n_test
        reference = LogisticRegressionCV(Cs=8, cv=3, max_iter=3000).fit(a, y[train])
        cross_validated.append(reference.score(b, y[test]))
    assert result.ci_low <= float(np.mean(cross_validated)) <= result.ci_high


def test_the_penalty_grows_when_noise_dimensions_are_added() -> None:
    clean, labels = _blobs(300, 3, informative=4, noise=0, spread=1.0, seed=0)
    noise = torch.randn(300, 400, generator=torch.Generator().manual_seed(1))
    noisy = torch.cat([clean, noise], 1)  # wider than the training images: the dual path
    few, many = linear_probe(clean, labels, method="ridge"), linear_probe(noisy, labels, method="ridge")
    assert many.penalty > 10 * few.penalty  # measured 10 → 464
    assert min(many.split_penalties) > max(few.split_penalties)
    ridge, penalties, _ = _sklearn_on_splits(noisy, labels)
    assert list(many.split_penalties) == pytest.approx(penalties)
    assert many.split_accuracies == pytest.approx(ridge)
    assert many.accuracy < few.accuracy and many.p_value < 0.01  # noisier, still readable


def test_no_signal_is_not_significant_and_strong_signal_is() -> None:
    significant = 0
    for seed in range(10):
        generator = torch.Generator().manual_seed(100 + seed)
        features = torch.randn(200, 30, generator=generator)
        labels = torch.randint(0, 2, (200,), generator=generator)
        result = linear_probe(features, labels, seed=seed)
        significant += result.p_value < 0.05
        assert 0 <= result.ci_low <= result.accuracy <= result.ci_high <= 1
    assert significant <= 2  # most seeds (measured: none) find nothing
    features, labels = _blobs(200, 4, informative=6, noise=20, spread=1.5, seed=0)
    strong = linear_probe(features, labels)
    assert strong.p_value < 0.01 and strong.ci_low > strong.chance + 0.2


def test_compare_to_best_is_the_corrected_paired_t_test() -> None:
    best = _result([0.80, 0.82, 0.81, 0.79, 0.83])
    close = _result([0.79, 0.82, 0.80, 0.80, 0.81])
    worse = _result([0.70, 0.73, 0.71, 0.72, 0.70])
    found = compare_to_best({"early": worse, "middle": close, "late": best})
    assert found.best == "late" and found.not_worse == ("middle", "late")
    for name, result in (("middle", close), ("early", worse)):
        gaps = np.subtract(best.split_accuracies, result.split_accuracies)
        error = max(gaps.std(ddof=1), 1 / 100) * math.sqrt(1 / 5 + 100 / 300)
        assert found.p_values[name] == pytest.approx(stats.t.sf(gaps.mean() / error, 4), rel=1e-9)
        assert found.differences[name] == pytest.approx(gaps.mean())
    assert found.p_values["early"] < 0.01 < 0.05 < found.p_values["middle"]


def test_freeze_advice_earliest_layer_as_good_as_the_best() -> None:
    weak, labels = _blobs(400, 3, informative=2, noise=30, spread=0.6, seed=3)
    strong = torch.cat([_blobs(400, 3, informative=8, noise=0, spread=1.5, seed=3)[0], weak], 1)
    results = {
        "early": linear_probe(weak, labels),
        "middle": linear_probe(strong, labels),
        "late": linear_probe(strong + 0.05 * torch.randn(400, 40, generator=torch.Generator()), labels),
    }
    advice = freeze_advice(results)
    assert advice.readable and advice.layer == "middle" and advice.best in {"middle", "late"}
    assert advice.not_worse == ("middle", "late")
    assert advice.accuracy == results["middle"].accuracy and advice.difference_p_value >= 0.05
    assert json.loads(json.dumps(advice.to_dict()))["layer"] == "middle"


def test_freeze_advice_no_layer_and_holm() -> None:
    generator = torch.Generator().manual_seed(7)
    labels = torch.randint(0, 3, (240,), generator=generator)
    results = {
        f"blocks.{i}": linear_probe(torch.randn(240, 16, generator=generator), labels) for i in range(3)
    }
    advice = freeze_advice(results)
    assert not advice.readable and advice.layer is None and advice.best is None
    assert math.isnan(advice.accuracy) and advice.not_worse == ()
    # Holm by hand: sorted 0.01·3, 0.03·2, then max(0.06, 0.04·1).
    made = {"a": _result([0.6] * 5, 0.01), "b": _result([0.7] * 5, 0.04), "c": _result([0.8] * 5, 0.03)}
    adjusted = freeze_advice(made).adjusted_p_values
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert freeze_advice(made).layer == "a"  # the only readable layer


# -- determinism, the record, the old three numbers ----------------------------------------------


def test_determinism_and_the_record() -> None:
    features, labels = _blobs(150, 3, informative=3, noise=5, spread=1.0, seed=0)
    first, again = linear_probe(features, labels, seed=4), linear_probe(features, labels, seed=4)
    assert first == again
    other = linear_probe(features, labels, seed=5)
    assert other.splits_key != first.splits_key
    with pytest.raises(InvalidArgumentError, match="different sets of splits"):
        compare_to_best({"a": first, "b": other})
    record = json.loads(json.dumps(first.to_dict()))
    assert record["accuracy"] == first.accuracy and len(record["split_accuracies"]) == probes.SPLITS
    assert all(isinstance(v, float) for v in record["split_p_values"])
    assert probe(features, labels, 4) == (first.accuracy, first.stderr, first.chance)


def test_the_interval_is_the_wider_of_corrected_t_and_wilson() -> None:
    features, labels = _blobs(150, 3, informative=3, noise=5, spread=1.0, seed=0)
    result = linear_probe(features, labels)
    accuracies, n_test = np.array(result.split_accuracies), result.n_test
    half = stats.t.ppf(0.975, 4) * accuracies.std(ddof=1) * math.sqrt(1 / 5 + n_test / result.n_train)
    z, p = stats.norm.ppf(0.975), accuracies.mean()
    centre = (p + z * z / (2 * n_test)) / (1 + z * z / n_test)
    wilson = z / (1 + z * z / n_test) * math.sqrt(p * (1 - p) / n_test + z * z / (4 * n_test**2))
    assert result.ci_low == pytest.approx(max(0, min(p - half, centre - wilson)), rel=1e-9)
    assert result.ci_high == pytest.approx(min(1, max(p + half, centre + wilson)), rel=1e-9)
    assert result.p_value == pytest.approx(min(1, 5 / 3 * sorted(result.split_p_values)[2]))


# -- bad inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (torch.randn(12, 3), torch.zeros(12, dtype=torch.long), "single class"),
        (torch.randn(12, 3), torch.tensor([0] * 10 + [1] * 2), r"too small to split.*\{1: 2\}"),
        (torch.randn(12, 3), torch.arange(11) % 2, "12 rows.*11 entries"),
        (torch.randn(12), torch.arange(12) % 2, "2-D"),
        (torch.randn(12, 3), (torch.arange(12) % 2).float(), "integer class labels"),
        (torch.tensor([[math.nan, 0.0]] + [[1.0, 2.0]] * 11), torch.arange(12) % 2, "non-finite.*row 0"),
        (torch.full((12, 2), math.inf), torch.arange(12) % 2, "non-finite"),
    ],
)
def test_bad_inputs_raise_clear_errors(features, labels, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        linear_probe(features, labels)


def test_bad_settings_raise() -> None:
    features, labels = torch.randn(12, 3), torch.arange(12) % 2
    with pytest.raises(InvalidArgumentError, match="splits must be an int >= 2"):
        linear_probe(features, labels, splits=1)
    with pytest.raises(InvalidArgumentError, match="permutations must be"):
        linear_probe(features, labels, permutations=5)
    with pytest.raises(InvalidArgumentError, match="method must be one of logistic, ridge, got 'svm'"):
        linear_probe(features, labels, method="svm")
    with pytest.raises(InvalidArgumentError, match="no probe results"):
        freeze_advice({})
    assert isinstance(InvalidArgumentError("x"), ValueError)
