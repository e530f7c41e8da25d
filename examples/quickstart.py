"""Render a few units of the embedded EfficientNet-Lite0 and save them (runs offline, CPU ok).

    python examples/quickstart.py [OUT_DIR]

Writes one PNG per unit, plus a grid of the first four channels of blocks.4 rendered in one batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import featviz
from featviz.rendering import objectives as obj


def main(out_dir: str = "quickstart_out") -> None:
    out = Path(out_dir)
    model = featviz.load_model("efficientnet_lite0")  # load once, reuse for every render

    # One unit per call: a channel, a single neuron, a class logit.
    for target in ["blocks.4:12", "blocks.5:20@center", "output:207"]:
        result = featviz.render(model, target, seed=0)
        path = result.save(out / f"{target.replace(':', '_').replace('@', '_')}.png")
        print(f"{target}: score {result.scores.item():.3g} -> {path}")

    # Several channels of one layer in one batch (one forward/backward per step for all of them).
    grid = featviz.render(model, "blocks.4", channels=range(4), seed=0)
    print(f"blocks.4 channels 0-3 -> {grid.save(out / 'blocks4_0-3.png')}")

    # Objective algebra: a channel, a little smoother.
    smooth = obj.channel("blocks.4", 12) - 2.0 * obj.total_variation()
    print(f"{smooth} -> {featviz.render(model, smooth, seed=0).save(out / 'blocks4_12_smooth.png')}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
