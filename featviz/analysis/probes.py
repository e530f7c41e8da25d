"""Linear probes: how well a layer's pooled features read a set of labels."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from featviz.errors import InvalidArgumentError

#: Share of the images held out to score the probes.
HELD_OUT = 0.3


def probe(features: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> tuple[float, float, float]:
    """A linear probe: ridge regression from standardized features to one-hot labels, closed
    form, fit on a stratified split and scored on the held-out :data:`HELD_OUT` share.

    Returns:
        ``(accuracy, its standard error, chance)``, chance being the held-out share of the most
        common class.
    """
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for cls in labels.unique():
        rows = torch.nonzero(labels == cls).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        held = max(1, round(len(rows) * HELD_OUT)) if len(rows) > 1 else 0
        test.append(rows[:held])
        train.append(rows[held:])
    train_rows, test_rows = torch.cat(train), torch.cat(test)
    if len(test_rows) == 0 or len(labels.unique()) < 2:
        raise InvalidArgumentError("a probe needs at least two classes with two images each")
    x = features.double()
    mean, std = x[train_rows].mean(0), x[train_rows].std(0).clamp(min=1e-6)
    x = (x - mean) / std
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    classes = int(labels.max()) + 1
    targets = F.one_hot(labels[train_rows], classes).double()
    a = x[train_rows]
    ridge = 1.0 * torch.eye(a.shape[1], dtype=x.dtype)
    weights = torch.linalg.solve(a.T @ a + ridge, a.T @ targets)
    predicted = (x[test_rows] @ weights).argmax(1)
    accuracy = float((predicted == labels[test_rows]).double().mean())
    chance = float(labels[test_rows].bincount().max()) / len(test_rows)
    return accuracy, math.sqrt(accuracy * (1 - accuracy) / len(test_rows)), chance


__all__ = ["probe", "HELD_OUT"]
