"""The activation atlas's layout: its cost at 100k activation vectors, and how well each method
keeps a vector's neighbours next to it.

    python examples/photo_folder.py /tmp/photos          # 552 crops of scikit-image's photos
    python benchmarks/atlas_layout.py /tmp/photos --layer blocks.3 --vectors 100000 \\
        --json benchmarks/results/atlas_layout.json

EfficientNet-Lite0's blocks.3 (80 channels, 14x14 positions) over 552 photos gives 108k vectors;
``featviz.activation_atlases.lay_out`` places up to ``--vectors`` of them with each method. The
neighbourhood score is the share of a point's 10 nearest neighbours (cosine, in the layer) that
are among its 10 nearest in the layout, averaged over 2,000 random points: 1 is a perfect
layout, 10 / N a random one.
"""

from __future__ import annotations

import argparse
import json
import time

import quality
import torch

import featviz
from featviz.reports.atlases.activation import _photo_source, _sample, lay_out

NEIGHBOURS = 10
PROBES = 2000


def kept_neighbours(vectors: torch.Tensor, layout: torch.Tensor, seed: int = 0) -> float:
    """Mean share of each probe's nearest neighbours (cosine) that stay nearest in ``layout``."""
    probes = torch.randperm(len(vectors), generator=torch.Generator().manual_seed(seed))[:PROBES]
    unit = vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)
    shares = []
    for part in probes.split(250):
        high = unit[part] @ unit.T
        high[torch.arange(len(part)), part] = -2  # not itself
        low = -torch.cdist(layout[part], layout)
        low[torch.arange(len(part)), part] = -float("inf")
        near_high = high.topk(NEIGHBOURS, dim=1).indices
        near_low = low.topk(NEIGHBOURS, dim=1).indices
        for a, b in zip(near_high, near_low, strict=True):
            shares.append(len(set(a.tolist()) & set(b.tolist())) / NEIGHBOURS)
    return sum(shares) / len(shares)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("photos")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--layer", default="blocks.3")
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--json")
    args = parser.parse_args()
    prepared = featviz.prepare(args.model)
    sources, load = _photo_source(prepared, args.photos)
    start = time.perf_counter()
    sample = _sample(prepared, args.layer, len(sources), load, args.vectors, 0, progress=False)
    collect = time.perf_counter() - start
    vectors = sample.vectors
    print(f"{len(vectors)} vectors of {vectors.shape[1]} channels, {len(sources)} photos: {collect:.1f} s")
    rows = []
    for method in ("pca", "umap"):
        start = time.perf_counter()
        layout = lay_out(vectors, method)
        seconds = time.perf_counter() - start
        score = kept_neighbours(vectors, layout)
        rows.append({"layout": method, "seconds": round(seconds, 1), "kept_neighbours": round(score, 3)})
        print(f"{method}: {seconds:.1f} s, {score:.3f} of {NEIGHBOURS} nearest neighbours kept", flush=True)
    record = {
        "command": "python benchmarks/atlas_layout.py "
        + " ".join([args.photos, "--layer", args.layer, "--vectors", str(args.vectors)]),
        "machine": quality.machine(),
        "torch": torch.__version__,
        "model": args.model,
        "layer": args.layer,
        "vectors": len(vectors),
        "channels": int(vectors.shape[1]),
        "photos": len(sources),
        "collect_seconds": round(collect, 1),
        "random_baseline": round(NEIGHBOURS / len(vectors), 5),
        "rows": rows,
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=1)


if __name__ == "__main__":
    main()
