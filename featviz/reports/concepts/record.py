"""The data of a concept report (what :func:`featviz.concepts` found), with no behaviour: the page
(:mod:`.page`) draws it and :class:`featviz.Concepts` (:mod:`.report`) adds saving and the
notebook view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from featviz.analysis.dictionary import Dictionary


@dataclass
class Concept:
    """One concept of the dictionary, as the report shows it.

    Attributes:
        index: its row in the dictionary.
        rank: its place by importance for the target class (0 = most important).
        importance: its mean contribution to the target class's logit over the class's photos
            (gradient × concept activation through the decoder, summed over positions).
        importance_share: its importance over the sum of the positive importances.
        deletion: the mean drop of the class logit when it alone is removed from the layer's
            activations of the class's photos (None when not measured).
        share: its share of the folder's concept activity (the sum of its codes over every sampled
            position, over the sum of all concepts' codes).
        photos: how many photos it is active in (code above a thousandth of the photo's largest).
        exemplars: the photo crops where it is strongest, one per photo, ``(3, h, w)`` in [0, 1].
        exemplar_sources: those photos' names; exemplar_codes: its code there.
        image: its render (a direction objective on its decoder vector), None when not rendered.
        score: the render's objective value.
        cached: whether the render came from the render cache.
    """

    index: int
    rank: int
    importance: float
    importance_share: float
    deletion: float | None
    share: float
    photos: int
    exemplars: list[torch.Tensor] = field(default_factory=list)
    exemplar_sources: list[str] = field(default_factory=list)
    exemplar_codes: list[float] = field(default_factory=list)
    image: torch.Tensor | None = None
    score: float | None = None
    cached: bool = False


@dataclass
class ClassTest:
    """The deletion test for one class: how much its logit drops (mean over its photos) when the
    3 most important concepts are removed, against 3 random ones (mean over draws)."""

    class_index: int
    class_name: str
    photos: int
    top: list[int]
    drop_top: float
    drop_random: float
    drop_random_draws: list[float]


@dataclass
class ConceptsData:
    """A layer's concept dictionary learned from a photo folder, and what it says about a class.

    Attributes:
        model, layer, method: what was analysed and how (``"nmf"`` or ``"sae"``).
        dictionary: the learned :class:`~featviz.analysis.dictionary.Dictionary`.
        photos: photos read; vectors: activation vectors learned from.
        quality: ``r2``, ``l0``, ``dead``, ``dead_share`` on those vectors.
        target, target_name: the class the concepts are ranked for; target_photos: its photos
            used (those the model predicts as it; every photo when none is).
        predicted: ``(class, name, photos)`` for the classes the model predicts most in the folder.
        concepts: the concepts shown, by importance for the target (largest first).
        tests: the deletion test per class (the target's first).
        deletion_summary: over the tested classes, the mean and standard error of the top-3 drop,
            of the random-3 drop and of their difference.
        settings, seconds, fingerprint, interrupted, rendered, reused: as every report's.
    """

    model: str
    layer: str
    method: str
    dictionary: Dictionary
    photos: int
    vectors: int
    quality: dict[str, float]
    target: int
    target_name: str
    target_photos: int
    predicted: list[tuple[int, str, int]]
    concepts: list[Concept]
    tests: list[ClassTest]
    deletion_summary: dict[str, float]
    settings: dict[str, Any]
    seconds: dict[str, float]
    fingerprint: str | None = None
    interrupted: bool = False
    rendered: int = 0
    reused: int = 0

    def concept(self, index: int) -> Concept:
        """The shown concept with dictionary row ``index``.

        Raises:
            KeyError: a concept that is not shown.
        """
        for concept in self.concepts:
            if concept.index == index:
                return concept
        raise KeyError(f"concept {index} is not among the {len(self.concepts)} shown")

    def __repr__(self) -> str:
        q = self.quality
        return (
            f"<Concepts {self.model} {self.layer}: {self.method}, {self.dictionary.size} concepts from "
            f"{self.vectors} vectors of {self.photos} photos; R² {q['r2']:.3f}, L0 {q['l0']:.1f}; "
            f"ranked for {self.target_name} ({self.target})>"
        )
