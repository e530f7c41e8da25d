"""Whether the render queue should share one forward pass among the renders of several layers.

    python benchmarks/render_queue.py [--device cpu|cuda] [--units 4] [--steps 32] [--rounds 3] [--json PATH]

Renders ``--units`` channels of an early and of a deep layer of EfficientNet-Lite0 at the
explanation's size, two ways, alternated in each round: **per layer** (two renders, each stopping
at its own layer: what the queue does on the CPU) and **shared** (one render of all of them, whose
forward pass runs to the deeper layer: what the queue does on CUDA for small batches). Prints the
median time of each and shared/per-layer; below 1 means sharing pays on this device.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import quality
import torch

import featviz
from featviz.options import EXPLAIN_SIZE


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--early", default="blocks.1")
    parser.add_argument("--deep", default="blocks.5")
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    model = featviz.prepare("efficientnet_lite0", device=args.device)
    early = [f"{args.early}:{c}" for c in range(args.units)]
    deep = [f"{args.deep}:{c}" for c in range(args.units)]
    options = {"steps": args.steps, "size": EXPLAIN_SIZE, "progress": False, "seed": [0] * args.units}

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def per_layer() -> None:
        featviz.render(model, early, **options)
        featviz.render(model, deep, **options)

    def shared() -> None:
        featviz.render(model, early + deep, **{**options, "seed": [0] * (2 * args.units)})

    ways = {"per layer": per_layer, "shared": shared}
    for way in ways.values():  # warm up (and the CPU batch-size measurement)
        way()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            sync()
            start = time.perf_counter()
            way()
            sync()
            times[name].append(time.perf_counter() - start)
            print(f"{name}: {times[name][-1]:.2f} s", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["shared"] / medians["per layer"]
    print(
        f"per layer {medians['per layer']:.2f} s, shared {medians['shared']:.2f} s: "
        f"shared/per layer = {ratio:.2f}"
    )
    record = {
        "command": " ".join(sys.argv),
        "machine": quality.machine(),
        "device": args.device,
        "torch": torch.__version__,
        "layers": [args.early, args.deep],
        "units": args.units,
        "steps": args.steps,
        "times": times,
        "median": medians,
        "shared_over_per_layer": ratio,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
