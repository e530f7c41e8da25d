"""The data of an activation atlas (what :func:`featviz.activation_atlas` found), with no
saving: the page (:mod:`.activation_page`) draws it and :class:`featviz.ActivationAtlas`
(:mod:`.activation`) adds saving and the notebook view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from featviz import imaging
from featviz.analysis.layout import cell_index
from featviz.reports import frame


@dataclass
class Cell:
    """One populated cell of the atlas.

    Attributes:
        row, col: its place in the grid (row 0 at the top).
        count: activation vectors that fell in it; photos: how many photos they come from.
        vector: their mean, the direction rendered.
        image: the render ``(3, S, S)`` in [0, 1] (None when an interrupt came first).
        score: the render's objective value.
        classes: ``(class, name, raised)`` for the classes its render raises most above the
            atlas's average render.
        patch: the photo region of the activation nearest the mean (cosine), ``(3, h, w)``.
        patch_source: that photo's file name (or ``"image <i>"`` for tensors).
        nearest: which of the sampled vectors is nearest the mean.
    """

    row: int
    col: int
    count: int
    photos: int
    vector: torch.Tensor
    image: torch.Tensor | None = None
    score: float | None = None
    classes: list[tuple[int, str, float]] = field(default_factory=list)
    patch: torch.Tensor | None = None
    patch_source: str = ""
    nearest: int = -1
    cached: bool = False


@dataclass
class ActivationAtlasData:
    """An activation atlas of one layer: the layout, the cells and their renders.

    ``picture()`` is the atlas as one image; :class:`featviz.ActivationAtlas` adds ``save(folder)``.
    """

    model: str
    layer: str
    grid: int
    layout: str
    photos: int
    coordinates: torch.Tensor  # (N, 2) in [0, 1]: x to the right, y down
    photo_ids: torch.Tensor  # (N,): which photo each vector comes from (an index into sources)
    sources: list[str]  # the photos' names (paths below the folder)
    cells: list[Cell]
    min_count: int
    settings: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    rendered: int = 0
    reused: int = 0
    fingerprint: str | None = None
    #: What made the atlas — photos (names and contents), model weights, layer, grid, layout,
    #: render settings, featviz version — as one hash: a finished atlas with the same key is reused.
    key: str = ""

    @property
    def vectors(self) -> int:
        """How many activation vectors were laid out."""
        return int(self.coordinates.shape[0])

    def cell_of(self) -> torch.Tensor:
        """``(N,)``: the grid cell (``row * grid + col``) each vector fell in."""
        return cell_index(self.coordinates, self.grid)

    def picture(self, icon: int = 96, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
        """The atlas as one RGB image: each rendered cell's picture at its place, ``icon`` px."""
        canvas = Image.new("RGB", (self.grid * icon, self.grid * icon), background)
        for cell in self.cells:
            if cell.image is not None:
                tile = imaging.to_pil(cell.image, alpha=False).convert("RGB")
                canvas.paste(
                    tile.resize((icon, icon), Image.Resampling.LANCZOS), (cell.col * icon, cell.row * icon)
                )
        return canvas

    def density(self, side: int = 384) -> Image.Image:
        """The layout itself: how many vectors land on each pixel, dark for many (greyscale)."""
        where = (self.coordinates.clamp(0, 1 - 1e-6) * side).long()
        counts = torch.zeros(side * side)
        counts.index_add_(0, where[:, 1] * side + where[:, 0], torch.ones(len(where)))
        shade = (counts.log1p() / max(float(counts.log1p().max()), 1e-12)).reshape(side, side)
        return Image.fromarray((255 * (1 - shade)).to(torch.uint8).numpy(), mode="L")

    def to_dict(self) -> dict[str, Any]:
        """The atlas's facts as plain data (no tensors): what ``activation_atlas.json`` holds."""
        return {
            "model": self.model,
            "layer": self.layer,
            "grid": self.grid,
            "layout": self.layout,
            "photos": self.photos,
            "vectors": self.vectors,
            "min_count": self.min_count,
            "settings": self.settings,
            "provenance": frame.provenance(self.model, self.settings, self.fingerprint),
            "key": self.key,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "interrupted": self.interrupted,
            "rendered": self.rendered,
            "reused": self.reused,
            "cells": [
                {
                    "row": c.row,
                    "col": c.col,
                    "count": c.count,
                    "photos": c.photos,
                    "score": None if c.score is None else frame.number(c.score, 4),
                    "classes": [{"class": k, "name": n, "raised": round(r, 3)} for k, n, r in c.classes],
                    "patch_source": c.patch_source,
                }
                for c in self.cells
            ],
        }

    def __repr__(self) -> str:
        shown = sum(c.image is not None for c in self.cells)
        state = ", interrupted" if self.interrupted else ""
        return (
            f"ActivationAtlas({self.model}, {self.layer!r}: {self.vectors} vectors from {self.photos} "
            f"photos, {self.layout} layout, {len(self.cells)} cells of {self.grid}x{self.grid}, "
            f"{shown} rendered{state})"
        )
