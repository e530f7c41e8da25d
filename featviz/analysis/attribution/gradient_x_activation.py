"""Gradient × activation summed over channels: a signed map of what adds to the score (positive)
and what takes from it (negative) at each position (Shrikumar et al. 2016; the "spatial
attribution" of Olah et al. 2018)."""

from __future__ import annotations

import torch


def attribute(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` activation and gradient → ``(H, W)`` signed map."""
    return (grad * act).sum(0)
