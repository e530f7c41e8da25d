"""The default unit: ``featviz.render(model, "layer:c")`` at the defaults, one unit at a time, against
a bare forward+backward of the same model prefix for the same number of steps, in one run.

    python benchmarks/default_unit.py [--device cpu|cuda] [--json PATH]

For each unit (the quality benchmark's quick channels, blocks.6:40 and the Egyptian-cat logit) it
times one default render (after one warm-up render per layer, so the CPU's batch-size choice and
first-call costs are out of it), then the ceiling: a bare forward+backward of the model up to the
unit's layer at batch 1, the same size, precision and memory format, for the default steps. The
ratio render / ceiling says what featviz adds on top of the model itself; the seconds are what a
user waits on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import speed
import torch

import featviz
from featviz.options import DEFAULTS

UNITS = ["blocks.2:5", "blocks.4:12", "blocks.5:20", "blocks.6:40", "output:285"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json")
    args = parser.parse_args()
    device = torch.device(args.device)
    model = featviz.load_model("efficientnet_lite0", device)
    prepared = featviz.prepare(model, device=device)
    size = prepared.default_size
    rows = []
    for unit in UNITS:
        layer = unit.rsplit(":", 1)[0]
        warm = featviz.render(prepared, unit, steps=4, progress=False)
        start = time.perf_counter()
        featviz.render(prepared, unit, progress=False)
        seconds = time.perf_counter() - start
        bf16 = warm.settings["precision"] == "bf16"
        through = "classifier" if layer == "output" else layer
        rate = speed.ceiling(
            model, through, 1, size, DEFAULTS.steps, device, bf16, bool(warm.settings["channels_last"])
        )
        bare = DEFAULTS.steps / rate
        row = {"unit": unit, "seconds": round(seconds, 2), "bare_seconds": round(bare, 2)}
        row["ratio"] = round(seconds / bare, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {
        "median_seconds": statistics.median(r["seconds"] for r in rows),
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "steps": DEFAULTS.steps,
        "size": list(size),
    }
    print(json.dumps(summary), flush=True)
    if args.json:
        record = {
            "command": "python benchmarks/default_unit.py --device " + args.device,
            "machine": speed.machine(device),
            "torch": torch.__version__,
            "featviz": featviz.__version__,
            "units": rows,
            "summary": summary,
        }
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=1)


if __name__ == "__main__":
    main()
