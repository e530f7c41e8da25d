"""Linear CKA: how alike two layers' representations of the same images are."""

from __future__ import annotations

import math

import torch

from featviz.errors import InvalidArgumentError


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA (Kornblith et al. 2019) of two ``(images, features)`` matrices, with the
    unbiased HSIC estimator (Song et al. 2012), which keeps CKA from drifting towards 1 when the
    features outnumber the images (Nguyen et al. 2021). 1 for the same representation up to
    rotation, scale and shift; near 0 for unrelated ones.

    Raises:
        InvalidArgumentError: fewer than 4 images (the estimator needs them).
    """
    if len(x) != len(y) or len(x) < 4:
        raise InvalidArgumentError(f"CKA needs the same >= 4 images for both, got {len(x)} and {len(y)}")
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    k, l_ = x @ x.T, y @ y.T
    denominator = math.sqrt(max(_hsic(k, k), 0.0) * max(_hsic(l_, l_), 0.0))
    return _hsic(k, l_) / denominator if denominator > 0 else float("nan")


def _hsic(k: torch.Tensor, l_: torch.Tensor) -> float:
    """The unbiased HSIC estimate of two Gram matrices (Song et al. 2012, eq. 5)."""
    n = k.shape[0]
    k = k - torch.diag(k.diagonal())
    l_ = l_ - torch.diag(l_.diagonal())
    ones = torch.ones(n, dtype=k.dtype)
    trace = float((k * l_.T).sum())
    sums = float(ones @ k @ ones) * float(ones @ l_ @ ones) / ((n - 1) * (n - 2))
    cross = float(ones @ k @ (l_ @ ones)) * 2 / (n - 2)
    return (trace + sums - cross) / (n * (n - 3))


__all__ = ["linear_cka"]
