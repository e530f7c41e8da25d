"""Time per unit of featviz configurations, measured alternately in one process (A, B, A, B, ...).

    python benchmarks/time_per_unit.py --rounds 2 [--quick] [--json PATH] \\
        --configs "featviz defaults;featviz defaults until 2026-11-27 (free contrast)"

Each round renders the benchmark's units (quality.py's channels and classes; --quick: its quick
tier) with every configuration, as quality.py does, and records the wall time per unit. Alternating
the configurations spreads the machine's noise over all of them; the medians per configuration and
their ratio are printed. Every configuration's Fourier image is built the same way (one batch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import quality
import torch

import featviz


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", required=True, help="';'-separated names from quality.py")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    known = {c["name"]: c for c in [*quality.FULL_CONFIGS, *quality.EXTRA_CONFIGS]}
    configs = [known[name.strip()] for name in args.configs.split(";")]
    channels = quality.QUICK_CHANNELS if args.quick else quality.FULL_CHANNELS
    classes = quality.QUICK_CLASSES if args.quick else quality.FULL_CLASSES
    targets = [*channels, *(f"output:{c}" for c in classes)]
    model = featviz.prepare("efficientnet_lite0")
    featviz.render(model, targets[0], steps=2, progress=False)  # warm up
    times: dict[str, list[float]] = {c["name"]: [] for c in configs}
    for _ in range(args.rounds):
        for config in configs:
            kwargs = {k: v for k, v in config.items() if k not in ("name", "steps", *quality.FOURIER_KEYS)}
            kwargs["param"] = quality._fourier(config, len(targets))
            start = time.perf_counter()
            featviz.render(model, targets, steps=config.get("steps", 384), progress=False, **kwargs)
            times[config["name"]].append((time.perf_counter() - start) / len(targets))
            print(f"{config['name']}: {times[config['name']][-1]:.2f} s/unit", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    first = medians[configs[0]["name"]]
    for name, value in medians.items():
        print(f"median {value:.2f} s/unit ({value / first:.2f}x the first): {name}")
    record = {
        "machine": quality.machine(),
        "torch": torch.__version__,
        "featviz": featviz.__version__,
        "units": len(targets),
        "seconds_per_unit": times,
        "median": medians,
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
