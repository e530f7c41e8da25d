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

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from featviz import io
from featviz import options as opts
from featviz.errors import FeatvizError, InvalidArgumentError
from featviz.exemplars import crop_at
from featviz.explanation import DIRECTION_CHUNK, _class_names
from featviz.hooks import find_module
from featviz.prepared import Prepared, prepare
from featviz.render_cache import Cached, CachedRenderer, RenderCache, make_cache, plain
from featviz.targets import OUTPUT

LAYOUTS = ("umap", "pca")
PCA_DIMS = 50  # dimensions kept before UMAP's neighbour search
UMAP_NEIGHBOURS = 15
UMAP_MIN_DIST = 0.01  # tight clusters: cells hold alike vectors (Carter et al. use a small value)
CLIP = 0.01  # the layout is scaled so the 1st..99th percentiles span the grid; outliers sit at the edge
CLASSES = 3  # classes shown per cell
PHOTO_BATCH = 32


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
class ActivationAtlas:
    """An activation atlas of one layer: the layout, the cells and their renders.

    ``picture()`` is the atlas as one image, ``save(folder)`` writes it with its page.
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

    @property
    def vectors(self) -> int:
        """How many activation vectors were laid out."""
        return int(self.coordinates.shape[0])

    def cell_of(self) -> torch.Tensor:
        """``(N,)``: the grid cell (``row * grid + col``) each vector fell in."""
        return _cell_index(self.coordinates, self.grid)

    def picture(self, icon: int = 96, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
        """The atlas as one RGB image: each rendered cell's picture at its place, ``icon`` px."""
        canvas = Image.new("RGB", (self.grid * icon, self.grid * icon), background)
        for cell in self.cells:
            if cell.image is not None:
                tile = io.to_pil(cell.image, alpha=False).convert("RGB")
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
                    "score": None if c.score is None or not math.isfinite(c.score) else round(c.score, 4),
                    "classes": [{"class": k, "name": n, "raised": round(r, 3)} for k, n, r in c.classes],
                    "patch_source": c.patch_source,
                }
                for c in self.cells
            ],
        }

    def save(self, out_dir: str | os.PathLike[str], links: Sequence[tuple[str, str]] = ()) -> Path:
        """Write ``index.html``, ``atlas.jpg``, ``layout.png``, the cells' renders and photo
        regions, and ``activation_atlas.json`` into ``out_dir``; returns the page.

        ``links`` are ``(href, text)`` navigation links shown on top (the microscope's).
        """
        from featviz.activation_atlas_page import write_page

        return write_page(self, Path(out_dir), links)

    def _repr_html_(self) -> str:
        from featviz.activation_atlas_page import inline_html

        return inline_html(self)

    def __repr__(self) -> str:
        shown = sum(c.image is not None for c in self.cells)
        state = ", interrupted" if self.interrupted else ""
        return (
            f"ActivationAtlas({self.model}, {self.layer!r}: {self.vectors} vectors from {self.photos} "
            f"photos, {self.layout} layout, {len(self.cells)} cells of {self.grid}x{self.grid}, "
            f"{shown} rendered{state})"
        )


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
    size: int = opts.EXPLAIN_SIZE,
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
            Each photo's center square is resized to the model's input size.
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
    for name, value in {"grid": grid, "vectors": vectors, "steps": steps, "size": size}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(f"{name} must be a positive int, got {value!r}")
    if layout not in LAYOUTS:
        raise InvalidArgumentError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if min_count is not None and (
        isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1
    ):
        raise InvalidArgumentError(f"min_count must be a positive int or None, got {min_count!r}")
    prepared = prepare(model, preprocess=preprocess, device=device)
    find_module(prepared.model, layer)
    sources, load = _photo_source(prepared, photos)
    seconds: dict[str, float] = {}

    sample = _sample(prepared, layer, len(sources), load, vectors, seed, progress)
    seconds["activations"] = time.perf_counter() - start
    tick = time.perf_counter()
    coordinates = lay_out(sample.vectors, layout, seed)
    seconds["layout"] = time.perf_counter() - tick

    threshold = min_count or max(2, math.ceil(len(coordinates) / grid**2 / 4))
    cells = _cells(sample, coordinates, grid, threshold)
    settings = {"steps": steps, "size": size, "seed": seed, **plain(render_options)}
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


def lay_out(vectors: torch.Tensor, method: str = "umap", seed: int = 0) -> torch.Tensor:
    """2-D positions in [0, 1] for ``(N, C)`` activation vectors (see the module docstring).

    Raises:
        InvalidArgumentError: fewer than 3 vectors, or an unknown method.
        FeatvizError: ``"umap"`` without umap-learn.
    """
    if len(vectors) < 3:
        raise InvalidArgumentError(
            f"an activation atlas needs at least 3 activation vectors, got {len(vectors)}; give more photos"
        )
    unit = vectors.float() / vectors.float().norm(dim=1, keepdim=True).clamp(min=1e-12)
    centred = unit - unit.mean(0, keepdim=True)
    dims = min(PCA_DIMS, centred.shape[1], len(centred))
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # pca_lowrank draws random projections
    try:
        _, _, basis = torch.pca_lowrank(centred, q=dims, center=False, niter=4)
    finally:
        torch.random.set_rng_state(generator_state)
    reduced = centred @ basis[:, :dims]
    if method == "pca":
        flat = reduced[:, :2]
    elif method == "umap":
        try:
            import umap
        except ImportError as error:
            raise FeatvizError(
                'layout="umap" needs umap-learn (a featviz dependency), which is not importable here: '
                'pip install umap-learn, or pass layout="pca"'
            ) from error
        neighbours = min(UMAP_NEIGHBOURS, len(reduced) - 1)
        reducer = umap.UMAP(
            n_neighbors=neighbours,
            min_dist=UMAP_MIN_DIST,
            random_state=seed,
            n_jobs=1,  # what a fixed random_state means in umap-learn; said here, it warns not
            init="pca",  # deterministic (spectral init is not, on tied data) and keeps global structure
        )
        flat = torch.from_numpy(reducer.fit_transform(reduced.numpy())).float()
    else:
        raise InvalidArgumentError(f"layout must be one of {', '.join(LAYOUTS)}, got {method!r}")
    low = torch.quantile(flat, CLIP, dim=0)
    high = torch.quantile(flat, 1 - CLIP, dim=0)
    scaled = (flat - low) / (high - low).clamp(min=1e-12)
    scaled[:, 1] = 1 - scaled[:, 1]  # y up in the layout, rows down in the picture
    return scaled.clamp(0, 1)


# -- the steps -------------------------------------------------------------------------------------


@dataclass
class _Sample:
    vectors: torch.Tensor  # (N, C)
    photo: torch.Tensor  # (N,) which photo
    position: torch.Tensor  # (N,) which position of the layer's grid (row-major)
    grid: tuple[int, int]


Loader = Callable[[int, int], torch.Tensor]  # photos [i, j) at the model's input size


def _photo_source(prepared: Prepared, photos: object) -> tuple[list[str], Loader]:
    """The photos' names, and a function loading photos ``[i, j)`` at the model's input size."""
    size = prepared.default_size
    if isinstance(photos, torch.Tensor):
        if photos.dim() != 4 or photos.shape[1] not in (1, 3) or len(photos) == 0:
            raise InvalidArgumentError(
                f"photos as a tensor must be (N, 3, H, W) in [0, 1] with N >= 1, got {tuple(photos.shape)}"
            )
        images = photos.float()
        if tuple(images.shape[-2:]) != tuple(size):
            images = torch.nn.functional.interpolate(images, size=size, mode="bilinear", antialias=True)
        return [f"image {i}" for i in range(len(images))], lambda i, j: images[i:j]
    if isinstance(photos, (str, os.PathLike)):
        paths = io.image_files(photos)
        return [str(p.relative_to(photos)) for p in paths], lambda i, j: io.load_paths(paths[i:j], size)
    raise InvalidArgumentError(
        f"photos must be a folder or an (N, 3, H, W) tensor, got {type(photos).__name__}"
    )


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

    bar = tqdm(total=count, disable=not progress, desc="activation atlas: photos", unit="photo")
    with bar:
        for offset in range(0, count, PHOTO_BATCH):
            images = load(offset, min(count, offset + PHOTO_BATCH))
            prepared.each_batch(images, {layer}, keep, batch=PHOTO_BATCH)
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


def _cell_index(coordinates: torch.Tensor, grid: int) -> torch.Tensor:
    """``row * grid + col`` of the cell each point of a layout in [0, 1] falls in."""
    where = (coordinates * grid).floor().long().clamp(0, grid - 1)
    return where[:, 1] * grid + where[:, 0]


def _cells(sample: _Sample, coordinates: torch.Tensor, grid: int, min_count: int) -> list[Cell]:
    cell_of = _cell_index(coordinates, grid)
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
    todo: list[Cell] = []
    for cell in atlas.cells:
        found = renderer.cached_direction(atlas.layer, cell.vector)
        if found is None:
            todo.append(cell)
        else:
            _fill(cell, found, cached=True)
            atlas.reused += 1
    chunk = DIRECTION_CHUNK.get(renderer.prepared.device.type, 16)
    bar = tqdm(total=len(todo), disable=not progress, desc="activation atlas: cells", unit="cell")
    with bar:
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            made = renderer.directions(atlas.layer, [cell.vector for cell in part])
            if made is None:
                atlas.interrupted = True
                return
            for cell, item in zip(part, made, strict=True):
                _fill(cell, item, cached=False)
            atlas.rendered += len(part)
            bar.update(len(part))


def _fill(cell: Cell, found: Cached, cached: bool) -> None:
    cell.image, cell.score, cell.cached = found.image, float(found.score), cached


def _classes(prepared: Prepared, atlas: ActivationAtlas, class_names: Sequence[str] | None) -> None:
    """Each rendered cell's top classes: raised most above the atlas's average render."""
    done = [cell for cell in atlas.cells if cell.image is not None]
    if len(done) < 2:
        return
    logits = prepared.activations(torch.stack([cell.image for cell in done]), {OUTPUT})[OUTPUT].float().cpu()  # type: ignore[misc]
    if logits.dim() != 2:
        return
    names = _class_names(class_names, logits.shape[1])
    raised = logits - logits.mean(0, keepdim=True)
    best = raised.topk(min(CLASSES, raised.shape[1]), dim=1)
    for cell, values, indices in zip(done, best.values, best.indices, strict=True):
        cell.classes = [(int(c), names[int(c)], float(v)) for v, c in zip(values, indices, strict=True)]


__all__ = ["activation_atlas", "ActivationAtlas", "Cell", "lay_out", "LAYOUTS"]
