"""A render with every argument resolved: the :class:`Request` (what was asked for, parsed once)
and the :class:`Plan` (every option resolved) that the step loop (:mod:`.optimize`) and the batch
size choice (:mod:`.batching`) read; :mod:`.run` makes them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from featviz import rng
from featviz.model.prepared import Prepared
from featviz.rendering.objectives import Objective, from_targets, recorded
from featviz.rendering.param import ImageParam
from featviz.rendering.transforms import Transforms
from featviz.targets import Target


@dataclass(frozen=True)
class Request:
    """What a render was asked for, parsed once: one objective for every image, or one target
    per image; plus each image's label."""

    objective: Objective | None
    targets: list[Target] | None
    labels: list[str]
    #: Consecutive images that render the same target (kept apart by the diversity term).
    group: int = 1


@dataclass
class Plan:
    """A render with every argument resolved: what each chunk needs, and the settings record."""

    prepared: Prepared
    request: Request
    seeds: rng.ImageSeeds
    steps: int
    image_size: tuple[int, int]
    param: str | ImageParam
    pipeline: Transforms
    make_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
    keep: set[int]
    bf16: bool
    channels_last: bool
    #: Whether images are resized to the model's input size before each forward pass.
    resize: bool
    compile: bool
    redirect_steps: int
    alpha: bool
    diversity: float
    #: Consecutive images optimized together and kept apart by the diversity term (1: none).
    group: int
    init: torch.Tensor | None
    batch_size: int
    settings: dict[str, object]

    @property
    def n_images(self) -> int:
        return len(self.request.labels)

    @property
    def device(self) -> torch.device:
        return self.prepared.device

    @property
    def model_size(self) -> tuple[int, int]:
        """The size of the images the model sees: its input size, or the images' own without ``resize``."""
        return self.prepared.input_size(self.image_size) if self.resize else self.image_size

    @property
    def splittable(self) -> bool:
        """Whether the images may be optimized in separate chunks: one target per image, and
        no parameterization instance that holds all of them."""
        return self.request.targets is not None and not isinstance(self.param, ImageParam)

    @property
    def label(self) -> str:
        labels = self.request.labels
        return labels[0] if len(labels) == 1 else f"{len(labels)} images"

    def objective(self, rows: slice) -> Objective:
        """The objective of the images ``rows``."""
        if self.request.objective is not None:
            return self.request.objective
        return from_targets((self.request.targets or [])[rows])

    def diversity_keys(self, rows: slice) -> list[str | None]:
        """For each group of ``rows``, the activation its diversity term compares: its target's
        layer; None for an Objective (the first of its layers that runs)."""
        if self.request.targets is None:
            return [None] * ((rows.stop - rows.start) // self.group)
        return [recorded(t) for t in self.request.targets[rows][:: self.group]]

    def init_images(self, rows: slice) -> torch.Tensor | None:
        """The start images of ``rows``: their own, or the one image shared by all."""
        if self.init is None or len(self.init) == 1:
            return self.init
        return self.init[rows]
