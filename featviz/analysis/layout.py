"""Layouts of activation vectors in 2-D (the activation atlas's, Carter et al. 2019): scaled to unit
length, reduced by PCA, laid out by UMAP (or the PCA plane), and cut into a grid of cells."""

from __future__ import annotations

import torch

from featviz.errors import FeatvizError, InvalidArgumentError

LAYOUTS = ("umap", "pca")
PCA_DIMS = 50  # dimensions kept before UMAP's neighbour search
UMAP_NEIGHBOURS = 15
UMAP_MIN_DIST = 0.01  # tight clusters: cells hold alike vectors (Carter et al. use a small value)
CLIP = 0.01  # the layout is scaled so the 1st..99th percentiles span the grid; outliers sit at the edge


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


def cell_index(coordinates: torch.Tensor, grid: int) -> torch.Tensor:
    """``row * grid + col`` of the cell each point of a layout in [0, 1] falls in."""
    where = (coordinates * grid).floor().long().clamp(0, grid - 1)
    return where[:, 1] * grid + where[:, 0]


__all__ = ["lay_out", "cell_index", "LAYOUTS"]
