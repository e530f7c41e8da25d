"""Dataset exemplars: the crops of a user's own images that excite each channel most.

Showing natural examples beside a synthetic visualization helps people understand a unit
(Borowski et al. 2021, "Exemplary natural images explain CNN activations better than
state-of-the-art feature visualization"). For every image in a folder (resized to cover the
model's input size and center-cropped, as every writer reads photos) featviz records, per channel,
the largest activation and where it occurs; each channel's ``top_k`` images contribute the crop
(half the image side) centered on that position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from featviz import files, imaging
from featviz.errors import InvalidArgumentError
from featviz.model.facts import images_per_pass
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
    photos' file names) to each channel entry.

    The folder is read ``batch`` photos at a time (fewer where memory is short) and only each
    channel's strongest position per photo is kept, so memory stays bounded by the batch, not the
    folder; the few photos the crops come from are read again at the end.
    """
    size = prepared.default_size
    paths = files.image_files(folder)
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

    batch = images_per_pass(prepared, layer, batch)
    for start in range(0, len(paths), batch):
        prepared.each_batch(imaging.load_paths(paths[start : start + batch], size), {layer}, strongest, batch)
    grid_h, grid_w = grids[0]
    maxima_all, where_all = torch.cat(maxima), torch.cat(where)  # (N, C)
    side_h, side_w = size[0] // 2, size[1] // 2
    crops: dict[int, list[tuple[int, int]]] = {}  # photo -> (channel, rank) of the crops it gives
    for entry in entries:
        c = entry["channel"]
        order = maxima_all[:, c].argsort(descending=True)[:top_k].tolist()
        entry["exemplars"] = [f"exemplars/{c:04d}_{rank}.jpg" for rank in range(len(order))]
        entry["exemplar_scores"] = [round(float(maxima_all[n, c]), 4) for n in order]
        entry["exemplar_sources"] = [paths[n].name for n in order]
        for rank, n in enumerate(order):
            crops.setdefault(n, []).append((c, rank))
    for n, wanted in sorted(crops.items()):  # each photo read once, one at a time
        photo = imaging.load_paths([paths[n]], size)[0]
        for c, rank in wanted:
            crop = crop_at(photo, int(where_all[n, c]), (grid_h, grid_w), (side_h, side_w))
            imaging.save_image(imaging.to_pil(crop), out / f"exemplars/{c:04d}_{rank}.jpg")
