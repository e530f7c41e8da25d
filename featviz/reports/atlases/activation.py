"""``featviz.activation_atlas``: what a layer sees across many photos, as one picture.

An activation atlas (Carter et al. 2019) shows the space of a layer's activations rather than
its units one by one::

    photos ──model──► spatial activation vectors (up to ``vectors``, a few per photo and position)
           ──layout──► 2-D points ──grid──► cells ──mean vector──► one direction render per cell

Each populated cell's mean activation is rendered as a direction of the layer (dot product ×
cosine, :func:`featviz.objectives.directions`), all cells in a few batches through the render
cache, so an interrupted atlas resumes where it stopped; the renders are laid out at their cells
in one large image. Each cell also records how many activations fell in it, from how many
photos, the photo region nearest its mean and the classes its render raises most.

The layout is UMAP (McInnes et al. 2018, umap-learn), as in the paper: it keeps each vector's
neighbours next to it (so neighbouring cells blend into each other), and it runs in minutes at
100k vectors on a CPU. It starts from the PCA layout rather than its spectral default: that keeps
the global arrangement (Kobak & Linderman 2021) and, unlike the spectral start on tied data, gives
the same layout every time. Before it, vectors are scaled to unit length (the cosine geometry the
direction renders use) and reduced to :data:`PCA_DIMS` dimensions by PCA, which keeps the
neighbour search cheap for wide layers. UMAP runs with a fixed ``random_state``, so the same
photos give the same layout, the same cells, and cache hits on a rerun (that also makes it
single-threaded). ``layout="pca"`` (the first two principal components) takes a second but
mixes unrelated vectors in one cell. ``benchmarks/atlas_layout.py`` measures both: time at 100k
vectors, and how many of each point's nearest neighbours the layout keeps.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from featviz import files
from featviz import options as opts
from featviz.analysis.exemplars import crop_at
from featviz.analysis.layout import LAYOUTS, cell_index, lay_out
from featviz.errors import InvalidArgumentError
from featviz.model import facts
from featviz.model.hooks import find_module
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.cache import CachedRenderer, RenderCache, make_cache, model_fingerprint, plain
from featviz.rendering.queue import RenderQueue
from featviz.reports import frame
from featviz.reports.atlases import activation_page
from featviz.reports.atlases.activation_record import ActivationAtlasData, Cell
from featviz.targets import OUTPUT
from featviz.version import __version__

CLASSES = 3  # classes shown per cell
#: Most cells per side: the atlas picture is at most MAX_GRID * 32 px across (icon_size), and
#: each cell is a render.
MAX_GRID = 128
#: Most activation vectors laid out: UMAP's neighbour graph grows with them (100k take 1.5 min).
MAX_VECTORS = 2_000_000
PHOTO_BATCH = 32  # most photos per pass (fewer where memory is short)


class ActivationAtlas(ActivationAtlasData, frame.Report):
    """An activation atlas of one layer (see :func:`activation_atlas`): ``picture()`` is the atlas
    as one image, ``save(folder)`` writes it with its page, and a notebook shows it inline."""

    _what = "an activation atlas"

    def save(self, out_dir: str | os.PathLike[str], links: Sequence[tuple[str, str]] = ()) -> Path:
        """Write ``index.html``, ``atlas.jpg``, ``layout.png``, the cells' renders and photo
        regions, and ``activation_atlas.json`` into ``out_dir``; returns the page.

        ``links`` are ``(href, text)`` navigation links shown on top (the microscope's).

        Raises:
            FolderBusyError: another run is writing into ``out_dir``.
            WriteError: a file could not be written.
        """
        with frame.claim(out_dir, self._what) as out:
            frame.retire_page(out)
            return activation_page.write_page(self, out, links)

    def _repr_html_(self) -> str:
        return activation_page.inline_html(self)


def activation_atlas(
    model: nn.Module | str | Prepared,
    layer: str,
    photos: str | os.PathLike[str] | torch.Tensor,
    *,
    grid: int = opts.ACTIVATION_ATLAS_GRID,
    vectors: int = opts.ACTIVATION_ATLAS_VECTORS,
    min_count: int | None = None,
    layout: str = "umap",
    steps: int = opts.EXPLAIN_STEPS,
    size: int | tuple[int, int] = opts.EXPLAIN_SIZE,
    seed: int = 0,
    cache: RenderCache | str | os.PathLike[str] | bool | None = True,
    render: bool = True,
    class_names: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    preprocess: object = None,
    progress: bool = True,
    **render_options: Any,  # noqa: ANN401 - featviz.render's options
) -> ActivationAtlas:
    """The activation atlas of ``layer`` over a folder of photos (Carter et al. 2019).

    Example:
        >>> atlas = featviz.activation_atlas("efficientnet_lite0", "blocks.5", "photos/")
        >>> atlas.save("atlas_blocks5")             # atlas_blocks5/index.html
        >>> atlas.picture().save("atlas.png")

    Args:
        model: an ``nn.Module`` (left as it was), a zoo name, or a prepared model.
        layer: a layer with a spatial grid (feature maps or patch tokens), or a vector layer
            (one vector per photo).
        photos: a folder of images (searched recursively) or an ``(N, 3, H, W)`` tensor in [0, 1].
            Each photo is resized to cover the model's input size and center-cropped, as every
            featviz writer reads photos (:func:`featviz.imaging.load_images`).
        grid: cells per side.
        vectors: at most this many activation vectors, spread evenly over the photos (random
            positions, seeded); more photos give a fuller atlas.
        min_count: cells with fewer vectors stay empty (default: a quarter of the average
            count per cell, at least 2), so a cell's mean stands for several activations.
        layout: ``"umap"`` (default; needs umap-learn) or ``"pca"`` (the module docstring
            compares them).
        steps, size, seed: of each cell's render (every cell gets the same seed).
        cache: True (default folder), a folder, False (none) or a RenderCache; a rerun after an
            interrupt renders only the missing cells.
        render: False lays out the cells without rendering them.
        class_names: names of the output classes (default: ImageNet's for 1000 classes).
        device, preprocess: as in :func:`featviz.prepare`.
        progress: progress bars over the photos and the renders.
        **render_options: further options of :func:`featviz.render` (``param``, ``lr``, ...).

    Returns:
        An :class:`ActivationAtlas`; after Ctrl-C, the cells rendered so far (``interrupted``).

    Raises:
        LayerNotFoundError: a layer the model does not have.
        InvalidArgumentError: no photos, a bad count, an unknown layout, or too few vectors.
        FeatvizError: ``layout="umap"`` without umap-learn installed.
    """
    start = time.perf_counter()
    frame.check_count("grid", grid, 1, MAX_GRID)
    frame.check_count("vectors", vectors, 3, MAX_VECTORS)
    frame.check_count("steps", steps)
    frame.check_size(size)
    if layout not in LAYOUTS:
        raise InvalidArgumentError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if min_count is not None and (
        isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1
    ):
        raise InvalidArgumentError(f"min_count must be a positive int or None, got {min_count!r}")
    prepared = prepare(model, preprocess=preprocess, device=device)
    find_module(prepared.model, layer)
    sources, load = frame.photo_source(prepared, photos)
    seconds: dict[str, float] = {}

    sample = _sample(prepared, layer, len(sources), load, vectors, seed, progress)
    seconds["activations"] = time.perf_counter() - start
    tick = time.perf_counter()
    coordinates = lay_out(sample.vectors, layout, seed)
    seconds["layout"] = time.perf_counter() - tick

    threshold = min_count or max(2, math.ceil(len(coordinates) / grid**2 / 4))
    cells = _cells(sample, coordinates, grid, threshold)
    settings = render_settings(steps, size, seed, **render_options)
    fingerprint = model_fingerprint(prepared)
    key = atlas_key(photos, fingerprint, layer, grid, vectors, min_count, layout, settings)
    atlas = ActivationAtlas(
        model=prepared.name,
        layer=layer,
        grid=grid,
        layout=layout,
        photos=len(sources),
        coordinates=coordinates,
        photo_ids=sample.photo,
        sources=sources,
        cells=cells,
        min_count=threshold,
        settings=settings,
        seconds=seconds,
        fingerprint=fingerprint,
        key=key,
    )
    _patches(prepared, atlas, sample, sources, load)
    if render and cells:
        tick = time.perf_counter()
        renderer = CachedRenderer(
            prepared, make_cache(cache), steps=steps, size=size, seed=seed, options=render_options
        )
        _render(renderer, atlas, progress)
        _classes(prepared, atlas, class_names)
        seconds["render"] = time.perf_counter() - tick
    seconds["total"] = time.perf_counter() - start
    return atlas


# -- the steps -------------------------------------------------------------------------------------


@dataclass
class _Sample:
    vectors: torch.Tensor  # (N, C)
    photo: torch.Tensor  # (N,) which photo
    position: torch.Tensor  # (N,) which position of the layer's grid (row-major)
    grid: tuple[int, int]


Loader = Callable[[int, int], torch.Tensor]  # photos [i, j) at the model's input size


def render_settings(
    steps: int,
    size: int | tuple[int, int],
    seed: int,
    **render_options: Any,  # noqa: ANN401
) -> dict[str, Any]:
    """The settings an atlas's cells are rendered with, as its record and its key hold them."""
    return {"steps": steps, "size": size, "seed": seed, **plain(render_options)}


def atlas_key(
    photos: str | os.PathLike[str] | torch.Tensor,
    fingerprint: str,
    layer: str,
    grid: int,
    vectors: int,
    min_count: int | None,
    layout: str,
    settings: dict[str, Any],
) -> str:
    """A hash of everything that makes an activation atlas: the photos (every file's name and
    contents, or the tensor's values), the model's weights (``fingerprint``), the layer, grid,
    vectors, cell threshold, layout, render settings and featviz's version."""
    if isinstance(photos, torch.Tensor):
        source = hashlib.sha256(photos.detach().cpu().float().contiguous().numpy().tobytes()).hexdigest()
    else:
        source = files.fingerprint(files.image_files(photos), photos)
    made_of = [source, fingerprint, layer, grid, vectors, min_count, layout, settings, __version__]
    return hashlib.sha256(json.dumps(made_of, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _sample(
    prepared: Prepared,
    layer: str,
    count: int,
    load: Loader,
    vectors: int,
    seed: int,
    progress: bool,
) -> _Sample:
    """A few activation vectors per photo at random positions (the same ones on every run)."""
    per_photo = max(1, math.ceil(vectors / count))
    kept: list[torch.Tensor] = []
    photo_ids: list[torch.Tensor] = []
    positions: list[torch.Tensor] = []
    grid: list[tuple[int, int]] = []

    def keep(rows: slice, acts: dict[str, torch.Tensor]) -> None:
        act = acts[layer].float()
        if act.dim() == 4:
            grid[:] = [(act.shape[2], act.shape[3])]
            flat = act.flatten(2).transpose(1, 2)  # (B, positions, C)
        elif act.dim() == 2:
            grid[:] = [(1, 1)]
            flat = act[:, None, :]
        else:
            raise InvalidArgumentError(
                f"layer {layer!r} outputs {tuple(act.shape[1:])}; an activation atlas needs a feature map "
                "(C, H, W), patch tokens or a vector per image"
            )
        for b in range(flat.shape[0]):
            index = offset + rows.start + b
            generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
            take = torch.randperm(flat.shape[1], generator=generator)[: min(per_photo, flat.shape[1])]
            kept.append(flat[b, take.to(flat.device)].cpu())
            photo_ids.append(torch.full((len(take),), index))
            positions.append(take)

    bar = frame.progress(count, "activation atlas: photos", progress, unit="photo")
    with bar:
        chunk = facts.images_per_pass(prepared, layer, PHOTO_BATCH)
        for offset in range(0, count, chunk):
            images = load(offset, min(count, offset + chunk))
            prepared.each_batch(images, {layer}, keep, batch=chunk)
            bar.update(len(images))
    all_vectors = torch.cat(kept)
    norms = all_vectors.norm(dim=1)
    alive = norms > 1e-6 * float(norms.max()) if len(norms) else norms > 0
    sample = _Sample(all_vectors[alive], torch.cat(photo_ids)[alive], torch.cat(positions)[alive], grid[0])
    if len(sample.vectors) > vectors:  # photos with fewer positions than per_photo leave none over
        order = torch.randperm(len(sample.vectors), generator=torch.Generator().manual_seed(seed))[:vectors]
        order = order.sort().values
        sample = _Sample(sample.vectors[order], sample.photo[order], sample.position[order], sample.grid)
    return sample


def _cells(sample: _Sample, coordinates: torch.Tensor, grid: int, min_count: int) -> list[Cell]:
    cell_of = cell_index(coordinates, grid)
    counts = torch.bincount(cell_of, minlength=grid * grid)
    sums = torch.zeros(grid * grid, sample.vectors.shape[1]).index_add_(0, cell_of, sample.vectors)
    cells = []
    for index in (counts >= min_count).nonzero().flatten().tolist():
        members = (cell_of == index).nonzero().flatten()
        mean = sums[index] / counts[index]
        row, col = divmod(index, grid)
        cell = Cell(row, col, int(counts[index]), len(set(sample.photo[members].tolist())), mean)
        cosine = torch.nn.functional.cosine_similarity(sample.vectors[members], mean[None], dim=1)
        cell.nearest = int(members[int(cosine.argmax())])
        cells.append(cell)
    return cells


def _patches(
    prepared: Prepared, atlas: ActivationAtlas, sample: _Sample, sources: list[str], load: Loader
) -> None:
    """Each cell's photo region around its most typical activation."""
    height, width = prepared.default_size
    grid_h, grid_w = sample.grid
    side_h = min(max(round(3 * height / grid_h), height // 4), height // 2)
    side_w = min(max(round(3 * width / grid_w), width // 4), width // 2)
    wanted: dict[int, list[tuple[Cell, int]]] = {}
    for cell in atlas.cells:
        n = cell.nearest
        wanted.setdefault(int(sample.photo[n]), []).append((cell, int(sample.position[n])))
    for photo, pairs in sorted(wanted.items()):
        image = load(photo, photo + 1)[0]
        for cell, position in pairs:
            cell.patch = crop_at(image, position, sample.grid, (side_h, side_w)).clone()
            cell.patch_source = sources[photo]


def _render(renderer: CachedRenderer, atlas: ActivationAtlas, progress: bool) -> None:
    queue = RenderQueue(renderer, progress, desc="activation atlas: cells")
    jobs = [(cell, queue.direction(atlas.layer, cell.vector)) for cell in atlas.cells]
    atlas.interrupted = not queue.run()
    atlas.rendered, atlas.reused = queue.rendered, queue.reused
    for cell, job in jobs:
        if job.found is not None:
            cell.image, cell.score, cell.cached = job.found.image, float(job.found.score), job.cached


def _classes(prepared: Prepared, atlas: ActivationAtlas, class_names: Sequence[str] | None) -> None:
    """Each rendered cell's top classes: raised most above the atlas's average render."""
    done = [cell for cell in atlas.cells if cell.image is not None]
    if len(done) < 2:
        return
    logits = prepared.activations(torch.stack([cell.image for cell in done]), {OUTPUT})[OUTPUT].float().cpu()  # type: ignore[misc]
    if logits.dim() != 2:
        return
    for cell, classes in zip(done, facts.classes_raised(logits, CLASSES, class_names), strict=True):
        cell.classes = classes


__all__ = ["activation_atlas", "ActivationAtlas", "Cell", "lay_out", "LAYOUTS"]
