"""Write the natural pool — every photograph scikit-image ships, cut into overlapping squares at
three scales, each also mirrored — as a folder of PNGs, one subfolder per photo.

    python examples/natural_folder.py /tmp/natural      # 1,364 crops at 224 px

The photos ship with scikit-image (no download); the crops are those featviz's quality benchmark
judges renders against (:func:`featviz.analysis.natural.natural_pool`). The concepts example reads
this folder: ``featviz concepts efficientnet_lite0 blocks.6 /tmp/natural``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from featviz import imaging
from featviz.analysis.natural import natural_pool


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "natural")
    pool = natural_pool()
    counts: dict[str, int] = {}
    for crop, source in zip(pool.images, pool.sources, strict=True):
        name = Path(source).name or source
        index = counts[name] = counts.get(name, -1) + 1
        # PNG: the crops exactly as the pool holds them (8-bit values), no JPEG artefacts
        imaging.save_image(imaging.to_pil(crop, alpha=False), out / name / f"{index:04d}.png")
    print(f"wrote {len(pool.images)} crops of {len(counts)} photos to {out}")


if __name__ == "__main__":
    main()
