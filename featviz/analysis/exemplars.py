"""Dataset exemplars: the crops of a user's own images that excite each channel most.

Showing natural examples beside a synthetic visualization helps people understand a unit
(Borowski et al. 2021, "Exemplary natural images explain CNN activations better than
state-of-the-art feature visualization"). For every image in a folder (center square, resized to
the model's input size) featviz records, per channel, the largest activation and where it
occurs; each channel's ``top_k`` images contribute the crop (half the image side) centered on
that position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from featviz import imaging
from featviz.errors import InvalidArgumentError
from featviz.model.prepared import Prepared


def crop_at(image: torch.Tensor, position: int, grid: tuple[int, int], side: tuple[int, int]) -> torch.Tensor:
    """The ``side`` region of ``image`` (``(C, H, W)``) centred on ``position`` (row-major) of a
    layer's ``grid``, moved inside the image where it would cross an edge."""
    height, width = image.shape[-2:]
    row, col = divmod(position, grid[1])
    cy, cx = int((row + 0.5) / grid[0] * height), int((col + 0.5) / grid[1] * width)
    top = min(max(cy - side[0] // 2, 0), height - side[0])
    left = min(max(cx - side[1] // 2, 0), width - side[1])
    return image[:, top : top + side[0], left : left + side[1]]


def attach_exemplars(
    prepared: Prepared,
    layer: str,
    entries: list[dict[str, Any]],
    folder: Path,
    out: Path,
    top_k: int,
    batch: int = 16,
) -> None:
    """Add ``"exemplars"`` (crop files), ``"exemplar_scores"`` and ``"exemplar_sources"`` (the
    photos' file names) to each channel entry."""
    size = prepared.default_size
    paths, images = imaging.load_folder(folder, size)
    maxima: list[torch.Tensor] = []
    where: list[torch.Tensor] = []
    grids: list[tuple[int, int]] = []

    def strongest(rows: slice, acts: dict[str, torch.Tensor]) -> None:
        act = acts[layer]
        if act.dim() != 4:
            raise InvalidArgumentError(
                f"exemplars need a (C, H, W) feature map, but layer {layer!r} outputs {tuple(act.shape[1:])}"
            )
        value, index = act.flatten(2).max(2)  # over positions: (B, C)
        maxima.append(value.cpu())
        where.append(index.cpu())
        grids.append((act.shape[-2], act.shape[-1]))

    prepared.each_batch(images, {layer}, strongest, batch)
    grid_h, grid_w = grids[0]
    maxima_all, where_all = torch.cat(maxima), torch.cat(where)  # (N, C)
    side_h, side_w = size[0] // 2, size[1] // 2
    for entry in entries:
        c = entry["channel"]
        order = maxima_all[:, c].argsort(descending=True)[:top_k].tolist()
        crops, scores = [], []
        for rank, n in enumerate(order):
            crop = crop_at(images[n], int(where_all[n, c]), (grid_h, grid_w), (side_h, side_w))
            file = f"exemplars/{c:04d}_{rank}.jpg"
            imaging.save_image(imaging.to_pil(crop), out / file)
            crops.append(file)
            scores.append(round(float(maxima_all[n, c]), 4))
        entry["exemplars"] = crops
        entry["exemplar_scores"] = scores
        entry["exemplar_sources"] = [paths[n].name for n in order]
