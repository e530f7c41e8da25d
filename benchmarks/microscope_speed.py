"""Microscope speed: render throughput against the hardware ceiling for every layer a microscope
shows, and the time a whole-model microscope takes at that pace.

    python benchmarks/microscope_speed.py [--model efficientnet_lite0] [--steps 8] [--device cpu|cuda]
        [--json benchmarks/results/microscope_speed_cpu.json]
    python benchmarks/microscope_speed.py --whole /tmp/site [--draft] [--json PATH]

The second form makes the whole-model microscope for real (``featviz microscope MODEL -o FOLDER``,
with ``--draft`` its quick first pass) and records the estimate it printed beside the real time.

For each default microscope layer (every block output, :func:`featviz.model.facts.default_layers`)
this measures, as ``speed.py`` does for one layer:

* **featviz**: ``featviz.render(model, layer, channels=range(n))`` with the batch size featviz
  picks for an atlas (n = that batch), image-steps per second in the steady state (no ReLU
  redirection, after a warm-up render);
* **ceiling**: a bare forward+backward of the model prefix up to the layer at the same batch,
  precision and memory format, before and after the featviz run, averaged;
* **ratio** = featviz / ceiling.

The mix is weighted by the layers' channel counts: featviz's seconds for every unit of the model
over the ceiling's seconds for the same image-steps. The projected microscope time renders every
channel of every layer for the default steps, once (``--no-negative``) and with negatives (x2);
the first 16 steps of a default render also redirect ReLU gradients, which this projection leaves
out (about +4% at 384 steps, RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import speed
import torch

import featviz
from featviz.model.facts import default_layers
from featviz.options import DEFAULTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--steps", type=int, default=8, help="measured steps per layer")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--layers", help="comma-separated (default: the microscope's)")
    parser.add_argument("--json")
    parser.add_argument(
        "--whole",
        metavar="FOLDER",
        help="instead: make the whole-model microscope in FOLDER with the command line (every "
        "block output, every unit) and record the estimate it printed beside its real time",
    )
    parser.add_argument("--draft", action="store_true", help="with --whole: the draft pass (--draft)")
    args = parser.parse_args()
    if args.whole:
        whole(args)
        return
    device = torch.device(args.device)
    model = featviz.load_model(args.model, device)
    prepared = featviz.prepare(model, device=device)
    layers = args.layers.split(",") if args.layers else default_layers(prepared)
    table = {info.layer: info for info in prepared.layers()}
    size = prepared.default_size
    common = {"steps": args.steps, "progress": False, "device": device, "redirect_relu": False}
    rows = []
    started = time.perf_counter()
    for layer in layers:
        channels = table[layer].channels or 1
        count = min(channels, 1024 if device.type == "cuda" else 32)
        warm = featviz.render(prepared, layer, channels=range(count), **{**common, "steps": 2})
        picked = int(warm.settings["batch_size"])
        bf16 = warm.settings["precision"] == "bf16"
        channels_last = bool(warm.settings["channels_last"])
        count = min(count, picked)  # one batch: the microscope's unit of work
        before = speed.ceiling(model, layer, picked, size, args.steps, device, bf16, channels_last)
        result = featviz.render(prepared, layer, channels=range(count), batch_size=picked, **common)
        after = speed.ceiling(model, layer, picked, size, args.steps, device, bf16, channels_last)
        ours = count * args.steps / result.seconds
        roof = (before + after) / 2
        row = {
            "layer": layer,
            "channels": channels,
            "batch_size": picked,
            "featviz_image_steps_per_s": round(ours, 2),
            "ceiling_image_steps_per_s": round(roof, 2),
            "ratio": round(ours / roof, 3),
            "precision": "bf16" if bf16 else "fp32",
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    featviz_seconds = sum(r["channels"] * DEFAULTS.steps / r["featviz_image_steps_per_s"] for r in rows)
    ceiling_seconds = sum(r["channels"] * DEFAULTS.steps / r["ceiling_image_steps_per_s"] for r in rows)
    summary = {
        "units": sum(r["channels"] for r in rows),
        "mix_ratio": round(ceiling_seconds / featviz_seconds, 3),
        "projected_minutes_no_negative": round(featviz_seconds / 60, 1),
        "projected_minutes_with_negative": round(2 * featviz_seconds / 60, 1),
        "default_steps": DEFAULTS.steps,
    }
    print(json.dumps(summary), flush=True)
    record = {
        "command": "python benchmarks/microscope_speed.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items() if v is not None and k != "json"),
        "machine": speed.machine(device),
        "torch": torch.__version__,
        "featviz": featviz.__version__,
        "model": args.model,
        "measured_steps": args.steps,
        "seconds": round(time.perf_counter() - started, 1),
        "layers": rows,
        "summary": summary,
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=1)


def whole(args: argparse.Namespace) -> None:
    """Run ``featviz microscope MODEL -o FOLDER [--draft]`` and time it against its own estimate."""
    command = [sys.executable, "-m", "featviz", "microscope", args.model, "-o", args.whole]
    command += ["--device", args.device] + (["--draft"] if args.draft else [])
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    estimate, lines = None, []
    for line in process.stdout or []:
        print(line, end="", flush=True)
        lines.append(line.rstrip())
        found = re.search(r"about ([0-9.]+) min", line)
        if found and estimate is None:
            estimate = float(found.group(1))
            estimated_at = time.perf_counter() - started
    if process.wait():
        raise SystemExit(f"{' '.join(command)} failed with exit code {process.returncode}")
    minutes = (time.perf_counter() - started) / 60
    site = json.loads((Path(args.whole) / "microscope.json").read_text(encoding="utf-8"))
    units = [u for layer in site["layers"] for u in layer["units"]]
    summary = {
        "real_minutes": round(minutes, 2),
        "estimated_minutes": estimate,
        "estimate_printed_after_s": round(estimated_at, 1) if estimate is not None else None,
        "estimate_error": round(estimate / minutes - 1, 3) if estimate is not None else None,
        "units": len(units),
        "draft_units": sum(1 for u in units if u.get("draft")),
        "layers": len(site["layers"]),
    }
    print(json.dumps(summary), flush=True)
    if args.json:
        record = {
            "command": " ".join(["python benchmarks/microscope_speed.py", *sys.argv[1:]]),
            "ran": " ".join(command[1:]),
            "machine": speed.machine(torch.device(args.device)),
            "torch": torch.__version__,
            "featviz": featviz.__version__,
            "summary": summary,
            "stdout": lines,
        }
        Path(args.json).write_text(json.dumps(record, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
