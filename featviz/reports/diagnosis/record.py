"""The data of a diagnosis (what :func:`featviz.diagnose` found), with no behaviour: the page
(:mod:`.page`) draws it and :class:`featviz.Diagnosis` (:mod:`.report`) adds saving."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from featviz.errors import InvalidArgumentError
from featviz.rendering.cache import Cached

#: A channel at its activation's cap on at least this share of positions is saturated.
SATURATED_SHARE = 0.99
#: A layer whose output gradient is this many times smaller than the deepest layer's is vanishing...
VANISHING = 1e-3
#: ... and this many times larger, exploding.
EXPLODING = 1e3


@dataclass
class LayerHealth:
    """What :func:`diagnose` found at one layer (channel lists hold channel indices)."""

    layer: str
    type: str
    channels: int
    mean: float
    std: float
    sparsity: float
    dead: list[int]
    saturated: list[int]
    always_on: list[int]
    cap: float | None
    channel_mean: torch.Tensor
    channel_max: torch.Tensor
    positive_share: torch.Tensor
    gradient_norm: float
    gradient_ratio: float
    parameter_gradient_norm: float | None
    weight_norm: float | None
    probe_accuracy: float | None = None
    probe_stderr: float | None = None
    flags: list[str] = field(default_factory=list)
    renders: dict[int, Cached] = field(default_factory=dict)


@dataclass
class DiagnosisData:
    """The data of a diagnosis of a model on a set of images (see :func:`featviz.diagnose`)."""

    model: str
    images: int
    labelled: bool
    classes: int | None
    class_names: list[str]
    layers: list[LayerHealth]
    output_gradient_norm: float
    probe_chance: float | None
    freeze_up_to: str | None
    freeze_rule: str | None
    compare_model: str | None = None
    compare_layers: list[str] = field(default_factory=list)
    cka: torch.Tensor | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    fingerprint: str | None = None

    def layer(self, name: str) -> LayerHealth:
        """The health of one layer, by name."""
        for layer in self.layers:
            if layer.layer == name:
                return layer
        raise InvalidArgumentError(
            f"no layer {name!r} in this diagnosis; it has {[x.layer for x in self.layers]}"
        )

    @property
    def flagged(self) -> dict[str, list[str]]:
        """``{layer: flags}`` for the layers with any."""
        return {layer.layer: layer.flags for layer in self.layers if layer.flags}

    def __repr__(self) -> str:
        return (
            f"Diagnosis({self.model}, {self.images} images, {len(self.layers)} layers, "
            f"flagged: {self.flagged or 'none'})"
        )
