"""The data of a diagnosis (what :func:`featviz.diagnose` found) and the thresholds it was judged
by: the page (:mod:`.page`) draws it and :class:`featviz.Diagnosis` (:mod:`.report`) adds saving.
Besides plain fields there is only :func:`rate_bound` (the rule of three, which the page and the
warnings both state) and read-only shortcuts to the probe's numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from featviz.analysis.probes import FreezeAdvice, ProbeResult
from featviz.errors import InvalidArgumentError
from featviz.rendering.cache import Cached

#: A channel at its activation's cap on at least this share of positions is saturated.
SATURATED_SHARE = 0.99
#: Fewer images than this are too few to call a channel dead or always on: a channel never
#: positive on N images may still be positive on up to about 3/N of such images (the rule of
#: three, 95 %), 1 % at 300.
MIN_IMAGES = 300
#: The confidence of the upper bounds on how often a "dead" channel may still fire.
BOUND_CONFIDENCE = 0.95
#: A layer whose output gradient is this many times smaller than the deepest layer's is vanishing...
VANISHING = 1e-3
#: ... and this many times larger, exploding.
EXPLODING = 1e3


def rate_bound(trials: int, confidence: float = BOUND_CONFIDENCE) -> float:
    """The upper confidence bound on a rate never seen in ``trials`` independent trials:
    ``1 - (1 - confidence) ** (1 / trials)``, about ``3 / trials`` at 95 % (the rule of three;
    Hanley & Lippman-Hand 1983). NaN for no trials."""
    return 1 - (1 - confidence) ** (1 / trials) if trials > 0 else float("nan")


@dataclass
class LayerHealth:
    """What :func:`diagnose` found at one layer (channel lists hold channel indices).

    ``activation`` names what the layer's values last went through: an activation module's class
    (``ReLU``, ``ReLU6``, ``SiLU``...) or ``"none"`` (the output of ``last_op``, e.g. a
    normalization or a residual sum). Dead, saturated and always-on channels are counted only where
    the values are ``rectified`` (ReLU, ReLU6, a Hardtanh from 0; and never negative in the data),
    each over ``images`` images × ``positions`` positions per image.
    """

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
    activation: str = "none"
    last_op: str = ""
    rectified: bool = False
    images: int = 0
    positions: int = 0
    probe: ProbeResult | None = None
    probe_p_adjusted: float | None = None
    probe_p_below_best: float | None = None
    flags: list[str] = field(default_factory=list)
    renders: dict[int, Cached] = field(default_factory=dict)

    @property
    def probe_accuracy(self) -> float | None:
        """The probe's mean held-out accuracy (None without labels)."""
        return None if self.probe is None else self.probe.accuracy

    @property
    def probe_stderr(self) -> float | None:
        """The probe accuracy's standard error (None without labels)."""
        return None if self.probe is None else self.probe.stderr


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
    freeze_verdict: str | None = None
    freeze_advice: FreezeAdvice | None = None
    probe_seed: int = 0
    warnings: list[str] = field(default_factory=list)
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
    def readable(self) -> bool | None:
        """Whether some layer reads the labels better than chance (None without labels)."""
        return None if self.freeze_advice is None else self.freeze_advice.readable

    @property
    def flagged(self) -> dict[str, list[str]]:
        """``{layer: flags}`` for the layers with any."""
        return {layer.layer: layer.flags for layer in self.layers if layer.flags}

    def __repr__(self) -> str:
        return (
            f"Diagnosis({self.model}, {self.images} images, {len(self.layers)} layers, "
            f"flagged: {self.flagged or 'none'})"
        )
