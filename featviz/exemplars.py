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

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from featviz import io
from featviz.errors import InvalidArgumentError
from featviz.hooks import Recorder, guarded
from featviz.preprocess import resolve_preprocess

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def load_folder(folder: Path, size: tuple[int, int]) -> tuple[list[Path], torch.Tensor]:
    """Images of a folder as center squares resized to ``size``: ``(N, 3, H, W)`` in [0, 1]."""
    if not folder.is_dir():
        raise InvalidArgumentError(f"examples must be a folder of images, got {str(folder)!r}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InvalidArgumentError(
            f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {str(folder)!r}"
        )
    tensors = []
    for path in paths:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
        x = torch.from_numpy(array).permute(2, 0, 1)
        h, w = x.shape[-2:]
        s = min(h, w)
        x = x[:, (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        tensors.append(F.interpolate(x[None], size=size, mode="bilinear", antialias=True)[0])
    return paths, torch.stack(tensors)


def attach_exemplars(
    model: nn.Module,
    layer: str,
    entries: list[dict[str, Any]],
    folder: Path,
    out: Path,
    top_k: int,
    device: torch.device,
    preprocess: object = None,
    batch: int = 16,
) -> None:
    """Add ``"exemplars"`` (crop files) and ``"exemplar_scores"`` to each channel entry."""
    pre = resolve_preprocess(model, preprocess)
    size = pre.input_size or (224, 224)
    paths, images = load_folder(folder, size)
    normalize = pre.module(device)
    maxima, where = [], []
    with guarded(model), Recorder(model, {layer}) as recorder, torch.no_grad():
        for start in range(0, len(images), batch):
            act = recorder.run(normalize(images[start : start + batch].to(device)))[layer].float()
            if act.dim() != 4:
                raise InvalidArgumentError(
                    f"exemplars need a (C, H, W) feature map, but layer {layer!r} outputs "
                    f"{tuple(act.shape[1:])}"
                )
            flat = act.flatten(2)  # (B, C, h*w)
            value, index = flat.max(2)
            maxima.append(value.cpu())
            where.append(index.cpu())
            grid_h, grid_w = act.shape[-2:]
    maxima_all, where_all = torch.cat(maxima), torch.cat(where)  # (N, C)
    side_h, side_w = size[0] // 2, size[1] // 2
    for entry in entries:
        c = entry["channel"]
        order = maxima_all[:, c].argsort(descending=True)[:top_k].tolist()
        files, scores = [], []
        for rank, n in enumerate(order):
            row, col = divmod(int(where_all[n, c]), grid_w)
            cy = int((row + 0.5) / grid_h * size[0])
            cx = int((col + 0.5) / grid_w * size[1])
            top = min(max(cy - side_h // 2, 0), size[0] - side_h)
            left = min(max(cx - side_w // 2, 0), size[1] - side_w)
            crop = images[n, :, top : top + side_h, left : left + side_w]
            file = f"exemplars/{c:04d}_{rank}.jpg"
            io.save_image(io.to_pil(crop), out / file)
            files.append(file)
            scores.append(round(float(maxima_all[n, c]), 4))
        entry["exemplars"] = files
        entry["exemplar_scores"] = scores
        entry["exemplar_sources"] = [paths[n].name for n in order]
