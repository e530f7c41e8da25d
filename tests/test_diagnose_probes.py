"""featviz.diagnose's probes and freezing advice: no advice without signal, a layer with numbers
when there is one, and per-layer accuracy that agrees with scikit-learn's cross-validated logistic
regression on the same features and splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegressionCV
from sklearn.preprocessing import StandardScaler
from torch import nn

import featviz
from featviz.analysis import probes
from featviz.analysis.probes import stratified_splits
from featviz.errors import InvalidArgumentError
from featviz.reports.diagnosis import report
from featviz.reports.diagnosis.report import diagnose

QUICK = {"render": False, "progress": False, "gradients": False}


def _colour_images(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy reddish (class 0) and bluish (class 1) 32 px images: a label every layer reads."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    images = torch.rand(count, 3, 32, 32, generator=generator) * 0.5
    images[labels == 0, 0] += 0.5
    images[labels == 1, 2] += 0.5
    return images, labels


def test_no_signal_gives_no_layer_to_freeze(tiny) -> None:
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(60, 3, 32, 32, generator=generator)  # noise, labelled at random
    labels = torch.randperm(60, generator=generator) % 2
    found = diagnose(tiny, images, labels, ["relu1", "relu2", "relu3"], size=32, **QUICK)
    assert found.readable is False and found.freeze_up_to is None
    assert found.freeze_verdict == "No layer reads these labels better than chance."
    assert (
        found.freeze_rule and "no evidence" in found.freeze_rule and "freeze up to" not in found.freeze_rule
    )
    record = found.to_dict()
    assert record["freeze_advice"]["readable"] is False and record["freeze_up_to"] is None
    for layer in record["layers"]:
        probe = layer["probe"]
        assert probe["ci_low"] <= probe["accuracy"] <= probe["ci_high"]
        assert probe["p_value_holm"] >= 0.05 and probe["p_value_below_best"] is None
        assert probe["penalty"] in probes.PENALTIES and len(probe["split_accuracies"]) == probes.SPLITS


def test_strong_signal_names_a_layer_with_its_numbers(tiny) -> None:
    images, labels = _colour_images(60)
    found = diagnose(tiny, images, labels, ["relu1", "relu2", "relu3"], size=32, **QUICK)
    assert found.readable is True and found.freeze_up_to in {"relu1", "relu2", "relu3"}
    assert found.freeze_verdict == f"Freeze up to {found.freeze_up_to}."
    chosen = found.layer(found.freeze_up_to)  # type: ignore[arg-type]
    assert chosen.probe is not None and chosen.probe.accuracy > 0.9
    assert f"{chosen.probe.ci_low:.3f}–{chosen.probe.ci_high:.3f}" in (found.freeze_rule or "")
    assert all(layer.probe_p_adjusted is not None and layer.probe_p_adjusted < 0.05 for layer in found.layers)
    # the earliest readable layer not significantly worse than the best
    earlier = found.layers[: [layer.layer for layer in found.layers].index(found.freeze_up_to)]
    assert all(layer.probe_p_below_best is not None and layer.probe_p_below_best < 0.05 for layer in earlier)
    record = found.to_dict()
    assert record["probe_settings"]["splits"] == probes.SPLITS and record["freeze_verdict"]
    assert {layer["probe"]["n_test"] for layer in record["layers"]} == {18}  # the same splits everywhere


def test_a_class_too_small_to_probe_fails_before_the_sweep(tiny, monkeypatch) -> None:
    swept = []
    monkeypatch.setattr(report, "_sweep", lambda *a, **k: swept.append(1))
    with pytest.raises(InvalidArgumentError, match="at least 3"):
        diagnose(tiny, torch.rand(7, 3, 32, 32), [0, 0, 0, 0, 0, 1, 1], ["relu3"], **QUICK)
    assert swept == []


def _digits_model() -> nn.Sequential:
    """A small fixed network for digits: pool back to 8 x 8 (any input size), then two random ReLU
    layers."""
    torch.manual_seed(0)  # the fixture's weights only; featviz itself never reads the global seed
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(8),
        nn.Flatten(),
        nn.Linear(192, 64),
        nn.ReLU(),
        nn.Linear(64, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


@pytest.mark.filterwarnings("ignore::FutureWarning")  # scikit-learn's notices of changing defaults
def test_probe_accuracy_by_layer_agrees_with_sklearn_logistic_regression_cv_on_digits() -> None:
    """300 of scikit-learn's digits, upscaled to 32 px, through a fixed network: at each layer the
    cross-validated logistic regression's mean accuracy on the probe's own splits lies in the
    probe's 95 % interval (measured: featviz's logistic probe 0.916 / 0.913 / 0.829, scikit-learn
    0.922 / 0.913 / 0.838; the ridge probe read 0.904 / 0.893 / 0.811)."""
    x, y = load_digits(return_X_y=True)
    rows = np.sort(np.random.default_rng(0).permutation(len(y))[:300])
    pixels = torch.tensor(x[rows], dtype=torch.float32).reshape(-1, 1, 8, 8) / 16
    images = (1 - pixels).repeat_interleave(4, 2).repeat_interleave(4, 3).expand(-1, 3, -1, -1).contiguous()
    labels = torch.tensor(y[rows])
    model = _digits_model()
    layers = ["2", "3", "5"]
    found = diagnose(model, images, labels, layers, size=32, **QUICK)
    features = featviz.prepare(model).activations(images, layers)
    for name in layers:
        data, truth = features[name].double().numpy(), labels.numpy()
        scores = []
        for train, test in stratified_splits(labels, seed=0):  # the diagnosis's splits (seed 0)
            scaler = StandardScaler().fit(data[train])
            reference = LogisticRegressionCV(Cs=8, cv=3, max_iter=3000).fit(
                scaler.transform(data[train]), truth[train]
            )
            scores.append(reference.score(scaler.transform(data[test]), truth[test]))
        result = found.layer(name).probe
        assert result is not None
        assert result.ci_low <= float(np.mean(scores)) <= result.ci_high, (name, result, scores)
    assert found.readable and found.freeze_up_to in layers
