"""featviz's analysis against independent references: scikit-learn's NMF, Grad-CAM written out by
hand from Selvaraju et al. 2017 with plain autograd, and the unbiased HSIC of Song et al. 2012 as
the U-statistic it is defined as (not the closed form featviz uses)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import TinyCNN
from sklearn.decomposition import NMF

import featviz
from featviz.analysis.cka import linear_cka
from featviz.analysis.nmf import nmf


def test_nmf_reconstructs_within_ten_percent_of_scikit_learns_best() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(300, 6, generator=generator) @ torch.rand(6, 40, generator=generator)
    x = (x + 0.05 * torch.rand(300, 40, generator=generator)).double()
    found = nmf(x, 6)
    assert found is not None
    w, h, _ = found
    ours = float(torch.linalg.norm(x - w.double() @ h.double()))
    best = min(
        NMF(6, init="random", random_state=seed, max_iter=2000, tol=1e-6).fit(x.numpy()).reconstruction_err_
        for seed in range(5)
    )
    assert ours <= 1.10 * best, (ours, best)


def test_grad_cam_equals_the_formula_written_out_with_plain_autograd(tiny: TinyCNN) -> None:
    """Selvaraju et al. 2017, eq. 1-2: α_c = mean over positions of ∂y/∂A_c; map = ReLU(Σ_c α_c A_c)."""
    photo = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(1))
    exp = featviz.explain(
        tiny, photo, ["relu2"], render=False, faithfulness=False, preprocess="none", progress=False
    )
    kept: dict[str, torch.Tensor] = {}
    hook = tiny.relu2.register_forward_hook(lambda module, inputs, output: kept.update(a=output))
    try:
        tiny.eval()
        logits = tiny(photo[None])
        activation = kept["a"]
        (gradient,) = torch.autograd.grad(logits[0, exp.target], activation)
    finally:
        hook.remove()
    a, g = activation[0].detach().numpy(), gradient[0].numpy()
    alphas = [g[c].sum() / (g.shape[1] * g.shape[2]) for c in range(g.shape[0])]
    written = np.maximum(sum(alpha * a[c] for c, alpha in enumerate(alphas)), 0)
    np.testing.assert_allclose(exp.layer("relu2").grad_cam.numpy(), written, rtol=1e-4, atol=1e-6)


def _hsic_u_statistic(k: np.ndarray, l_: np.ndarray) -> float:
    """Song et al. 2012, Theorem 2: the mean over all distinct (i, j, q, r) of h, the average over
    their 24 orderings (t, u, v, w) of k_tu l_tu + k_tu l_vw - 2 k_tu l_tv."""
    n = len(k)
    total, count = 0.0, 0
    for quad in itertools.permutations(range(n), 4):
        t, u, v, w = quad
        total += k[t, u] * l_[t, u] + k[t, u] * l_[v, w] - 2 * k[t, u] * l_[t, v]
        count += 1
    return total / count


def test_linear_cka_equals_the_unbiased_hsic_u_statistic() -> None:
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(8, 5, generator=generator).double()
    y = (
        x @ torch.randn(5, 3, generator=generator).double()
        + 0.5 * torch.randn(8, 3, generator=generator).double()
    )
    xc, yc = (x - x.mean(0)).numpy(), (y - y.mean(0)).numpy()
    k, l_ = xc @ xc.T, yc @ yc.T
    reference = _hsic_u_statistic(k, l_) / math.sqrt(_hsic_u_statistic(k, k) * _hsic_u_statistic(l_, l_))
    assert linear_cka(x, y) == pytest.approx(reference, rel=1e-9, abs=1e-12)
