"""Peak memory of the microscope's link stage (classes raised, units below) by the number of units.

    python benchmarks/links_memory.py [--units 16 96 320] [--layer blocks.6 --below blocks.5] \\
        [--unchunked] [--json PATH]

For each count, a fresh process prepares EfficientNet-Lite0 on the CPU, writes that many unit
renders (random 224-px pictures; the link stage's cost does not depend on what they show) as a
microscope's layer folder, and runs the link stage on them. It prints the process's peak resident
memory (``ru_maxrss``) before and after the links, and the links' time. Flat in the unit count is
the aim: the links pass renders through the model in memory-sized chunks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import quality

CHILD = """
import json, resource, sys, time
from pathlib import Path
import torch
import featviz
from featviz import imaging
from featviz.reports.atlases import microscope

count, layer, below, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
if sys.argv[5] == "unchunked":  # all units in one pass, as before issue 24
    microscope.links_chunk = lambda prepared, layer, units: units
prepared = featviz.prepare("efficientnet_lite0", device="cpu")
channels = {info.layer: info.channels for info in prepared.layers()}[layer]
generator = torch.Generator().manual_seed(0)
units = []
for i in range(count):
    name = f"layers/01/channels/{i:04d}.png"
    imaging.save_image(imaging.to_pil(torch.rand(3, 224, 224, generator=generator)), folder / name)
    units.append({"channel": i % channels, "file": name})
ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
start = time.perf_counter()
microscope._links(prepared, folder, [{"layer": below, "units": []}, {"layer": layer, "units": units}])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
chunk = microscope.links_chunk(prepared, layer, count)
row = {"units": count, "chunk": chunk, "rss_before_gb": ready, "peak_rss_gb": peak}
print(json.dumps({**row, "seconds": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, nargs="+", default=[16, 96, 320])
    parser.add_argument("--layer", default="blocks.6")
    parser.add_argument("--below", default="blocks.5")
    parser.add_argument("--unchunked", action="store_true", help="every unit in one pass (as before)")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for count in args.units:
        with tempfile.TemporaryDirectory() as folder:
            how = "unchunked" if args.unchunked else "chunked"
            command = [sys.executable, "-c", CHILD, str(count), args.layer, args.below, folder, how]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{count} units (chunks of {row['chunk']}): peak RSS {row['peak_rss_gb']:.2f} GB "
            f"({row['rss_before_gb']:.2f} GB before the links), {row['seconds']:.1f} s",
            flush=True,
        )
    if args.json:
        record = {
            "command": " ".join(sys.argv),
            "machine": quality.machine(),
            "unchunked": args.unchunked,
            "rows": rows,
        }
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
