"""Non-negative matrix factorization: the neuron groups of an explanation (Olah et al. 2018) and
the concept dictionaries learned from photos."""

from __future__ import annotations

import math

import torch

#: Multiplicative-update iterations of :func:`nmf`.
ITERATIONS = 200


def nmf(
    x: torch.Tensor, k: int, iterations: int = ITERATIONS, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, float] | None:
    """Non-negative matrix factorization ``x ≈ W @ H`` by multiplicative updates (Lee & Seung 2001).

    Args:
        x: ``(N, C)`` non-negative (positions × channels).
        k: factors (at most ``min(N, C)``).

    Returns:
        ``(W (N, k), H (k, C), explained variance)``, each row of ``H`` of unit norm and the
        factors ordered by their total weight in ``W``, largest first; the explained variance is
        ``1 - |x - WH|² / |x - mean over positions|²``. None when ``x`` is all zero.
    """
    x = x.float()
    n, c = x.shape
    k = min(k, n, c)
    if k < 1 or float(x.max()) <= 0:
        return None
    generator = torch.Generator().manual_seed(seed)
    scale = math.sqrt(float(x.mean()) / k)
    w = torch.rand(n, k, generator=generator, dtype=torch.float32) * scale + 1e-6
    h = torch.rand(k, c, generator=generator, dtype=torch.float32) * scale + 1e-6
    eps = 1e-10
    for _ in range(iterations):
        h *= (w.T @ x) / (w.T @ w @ h + eps)
        w *= (x @ h.T) / (w @ (h @ h.T) + eps)
    norms = h.norm(dim=1).clamp(min=eps)
    h, w = h / norms[:, None], w * norms[None, :]
    order = w.sum(0).argsort(descending=True)
    w, h = w[:, order], h[order]
    residual = float(((x - w @ h) ** 2).sum())
    total = float(((x - x.mean(0, keepdim=True)) ** 2).sum())
    explained = 1.0 - residual / total if total > 0 else 1.0
    return w, h, explained


__all__ = ["nmf", "ITERATIONS"]
