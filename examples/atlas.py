"""Build a neuron atlas of a layer of the embedded EfficientNet-Lite0 (offline, CPU ok).

    python examples/atlas.py [LAYER] [OUT_DIR] [--photos FOLDER]

Renders the first 16 channels of the layer (default blocks.5) in batches, then writes
OUT_DIR/index.html (open it in a browser), grid.png and manifest.json. Run it again and it resumes;
under `torchrun --nproc-per-node 2 examples/atlas.py` the channels are split across two processes.
With --photos, each channel also shows the crops of your photos that excite it most.
"""

from __future__ import annotations

import argparse

import featviz
from featviz.options import DEFAULTS

DEFAULT_STEPS = DEFAULTS.steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("layer", nargs="?", default="blocks.5")
    parser.add_argument("out_dir", nargs="?", default="atlas_out")
    parser.add_argument("--photos", help="a folder of your own images (optional)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    args = parser.parse_args()

    result = featviz.atlas(
        "efficientnet_lite0",
        args.layer,
        channels=range(16),
        out_dir=args.out_dir,
        steps=args.steps,
        examples=args.photos,
    )
    if result.index is not None:  # rank 0 (or the only process)
        best = max(result.channels, key=lambda entry: entry["score"])
        print(
            f"{len(result.channels)} channels; strongest: {best['channel']} "
            f"(score {best['score']:.3g}); open {result.index}"
        )


if __name__ == "__main__":
    main()
