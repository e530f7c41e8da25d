"""Grad-CAM (Selvaraju et al. 2017): the channels weighted by their mean gradient, summed, and
only the positive part kept."""

from __future__ import annotations

import torch


def attribute(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` activation and gradient → ``(H, W)`` map, zero or above."""
    weights = grad.mean((1, 2))
    return (weights[:, None, None] * act).sum(0).clamp(min=0)
