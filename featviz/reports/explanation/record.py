"""The data of an explanation (what :func:`featviz.explain` found), with no behaviour: the page
(:mod:`.page`) draws it and :class:`featviz.Explanation` (:mod:`.report`) adds saving and the
notebook view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from featviz.analysis.faithfulness import Faithfulness
from featviz.errors import InvalidArgumentError


@dataclass
class Render:
    """One picture of an explanation: what it shows, the image (None while not rendered), its score."""

    what: str
    image: torch.Tensor | None = None
    score: float | None = None
    cached: bool = False


@dataclass
class Channel:
    """A channel of a layer on the photo: its value (mean activation, or its contribution to the
    class), its map over the layer's grid, and its render."""

    channel: int
    value: float
    map: torch.Tensor
    render: Render


@dataclass
class Group:
    """A neuron group (NMF factor): its map over the grid, its channel mix, its render."""

    map: torch.Tensor
    weights: torch.Tensor
    share: float
    render: Render


@dataclass
class ConceptInPhoto:
    """A concept of a dictionary on the photo: how much it adds to the class, where it is, and
    what it looks like.

    Attributes:
        concept: its index in the dictionary.
        contribution: gradient × concept activation through the decoder, summed over positions
            (:func:`featviz.analysis.dictionary.contributions`): what it adds to the class score.
        share: its part of the sum of the positive contributions of all the dictionary's concepts.
        map: ``(H, W)`` its code at each position of the layer's grid.
        direction: ``(C,)`` its direction in the layer's activation space (what its render shows).
        render: the render of the direction.
    """

    concept: int
    contribution: float
    share: float
    map: torch.Tensor
    direction: torch.Tensor
    render: Render


@dataclass
class PhotoConcepts:
    """The concepts of a dictionary that add most to the class on the photo.

    Attributes:
        method, layer, fingerprint, size: the dictionary's (:class:`featviz.analysis.dictionary.Dictionary`).
        grid_shape: the layer's spatial grid (H, W), the shape of every concept's map.
        total: the contributions of all ``size`` concepts added up: the gradient · (reconstruction
            − bias) summed over positions.
        positive: the positive contributions added up (what ``share`` divides by).
        concepts: those with a positive contribution, largest first, at most
            :data:`featviz.reports.explanation.report.CONCEPTS`.
    """

    method: str
    layer: str
    fingerprint: str
    size: int
    grid_shape: tuple[int, int]
    total: float
    positive: float
    concepts: list[ConceptInPhoto]


@dataclass
class LayerExplanation:
    """What one layer sees in the photo.

    Attributes:
        layer, channels, grid_shape: the layer, its channel count and its spatial grid (H, W).
        strength: ``(H, W)`` the norm of the activation vector at each position.
        top: the semantic dictionary: top channels by mean activation.
        cells: the activation grid's shape (rows, cols) after pooling.
        cell_strength: ``(rows, cols)`` each cell's activation norm.
        cell_vectors: ``(rows * cols, C)`` each cell's mean activation vector (what it renders).
        cell_renders: one render per cell, row by row (None for a cell with no activation).
        groups: the neuron groups, largest first; ``explained_variance`` is theirs together.
        attribution: ``(H, W)`` gradient × activation summed over channels (signed).
        grad_cam: ``(H, W)`` Grad-CAM.
        attributing: the channels adding most to the class (value: their gradient × activation).
        grad_cam_faithfulness: deletion and insertion of the photo's pixels in the order of
            ``grad_cam`` (Petsiuk et al. 2018), with random orders for chance; None when not
            measured (``explain(faithfulness=False)``).
        attribution_faithfulness: the same for ``attribution``, its pixels ranked by the signed
            value: the positive part's order, the places that speak against the class last.
    """

    layer: str
    channels: int
    grid_shape: tuple[int, int]
    strength: torch.Tensor
    top: list[Channel]
    cells: tuple[int, int]
    cell_strength: torch.Tensor
    cell_vectors: torch.Tensor
    cell_renders: list[Render | None]
    groups: list[Group]
    explained_variance: float
    attribution: torch.Tensor
    grad_cam: torch.Tensor
    attributing: list[Channel]
    grad_cam_faithfulness: Faithfulness | None = None
    attribution_faithfulness: Faithfulness | None = None


@dataclass
class ExplanationData:
    """The data of an explanation of one photo (see :func:`featviz.explain`).

    Attributes:
        model: the model's name.
        photo: ``(3, H, W)`` the photo as the model saw it (resized and center-cropped).
        source: where the photo came from (a file name, or a description).
        predictions: the top classes: ``[(class index, name, probability), ...]``.
        target: the class the attribution is for.
        layers: one :class:`LayerExplanation` per layer, in depth order.
        settings: how the renders were made.
        seconds: wall time; ``rendered``/``reused``: renders made anew / taken from the cache.
        interrupted: Ctrl-C stopped the renders; those missing have no image.
        fingerprint: the model's weights fingerprint (for the record's provenance).
        concepts: with ``explain(concepts=...)``, the dictionary's concepts that add most to the
            class on the photo (None without a dictionary).
        stages: wall time per stage (s): ``analysis`` (the model on the photo: predictions, maps,
            groups, attribution), ``first page``, ``faithfulness``, ``renders`` and ``pages``
            (rewriting the report as it fills in); they add up to ``seconds``, which is taken
            before the last write.
    """

    model: str
    photo: torch.Tensor
    source: str
    predictions: list[tuple[int, str, float]]
    target: int
    target_name: str
    layers: list[LayerExplanation]
    settings: dict[str, Any]
    seconds: float = 0.0
    rendered: int = 0
    reused: int = 0
    interrupted: bool = False
    fingerprint: str | None = None
    #: Renders are still being made (a report written before they finish, filled in as they do).
    rendering: bool = False
    stages: dict[str, float] = field(default_factory=dict)
    #: The faithfulness curves are still being measured (a first page written before them).
    faithfulness_pending: bool = False
    concepts: PhotoConcepts | None = None

    @property
    def evolution(self) -> list[Channel]:
        """Per layer, in depth order, its top channel on the photo (render and map)."""
        return [layer.top[0] for layer in self.layers if layer.top]

    def layer(self, name: str) -> LayerExplanation:
        """The explanation of one layer, by name."""
        for layer in self.layers:
            if layer.layer == name:
                return layer
        raise InvalidArgumentError(
            f"this explanation has no layer {name!r}; it has {[layer.layer for layer in self.layers]}"
        )

    def __repr__(self) -> str:
        name = f"{self.target_name} ({self.target})"
        state = ", interrupted" if self.interrupted else ""
        return (
            f"Explanation({self.model}, {self.source!r}: {name}, layers "
            f"{[layer.layer for layer in self.layers]}{state})"
        )
