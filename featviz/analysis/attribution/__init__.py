"""Attribution: where in a layer's grid the evidence for a score lies.

Every method is one module with one signature::

    attribute(act, grad) -> (H, W) map

where ``act`` is a layer's activation ``(C, H, W)`` on one photo and ``grad`` the gradient of the
score (a class logit) with respect to it. :data:`METHODS` lists them by name; a new method is a
new module here and one entry in :data:`METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from featviz.analysis.attribution import grad_cam, gradient_x_activation

#: The attribution methods by name: each ``attribute(act, grad) -> (H, W)``.
METHODS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "gradient_x_activation": gradient_x_activation.attribute,
    "grad_cam": grad_cam.attribute,
}

__all__ = ["METHODS", "grad_cam", "gradient_x_activation"]
