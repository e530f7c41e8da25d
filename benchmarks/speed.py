"""Render throughput vs the hardware ceiling, on CPU or CUDA.

For a model, a layer, an image size and several batch sizes this measures, in one run:

* **featviz** — ``featviz.render(model, layer, channels=range(B), batch_size=B, steps=S,
  redirect_relu=False)``: B channels at once, image-steps per second over the optimization loop
  (after a warm-up render), steady-state steps without the start-up ReLU redirection;
* **ceiling** — a bare forward+backward of the same model prefix (stopping after ``layer``, the
  same truncation featviz uses) on a random batch of B images at the model's input size, with the
  same precision and memory format, measured before and after the featviz run and averaged;
* **ratio** = featviz / ceiling, plus peak GPU memory on CUDA.

With ``--lucent PATH`` (torch-lucent installed there with ``pip install --no-deps --target PATH
torch-lucent==0.1.8 decorator``) it also times Lucent's ``render_vis`` with its defaults (128 px
image upsampled to the 224 px model input) rendering units one at a time, and reports featviz's
per-unit speed-up. Lucent is never a featviz dependency.

Usage:
    python benchmarks/speed.py [--model efficientnet_lite0] [--layer blocks.4] [--size 224]
        [--steps 30] [--batch-sizes auto,1,8,32] [--device cpu|cuda] [--lucent PATH]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

import featviz
from featviz.hooks import Recorder, guarded

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from core_check import run_lucent  # noqa: E402 - sibling benchmark script


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ceiling(
    model,
    layer: str,
    batch: int,
    size: tuple[int, int],
    steps: int,
    device: torch.device,
    bf16: bool,
    channels_last: bool,
) -> float:
    """Image-steps/s of a bare forward+backward of the model prefix up to ``layer``."""
    x = torch.rand(batch, 3, *size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    with guarded(model), Recorder(model, {layer}) as recorder:

        def step() -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                act = recorder.run(x)[layer]
            act.float().mean().backward()

        for _ in range(3):
            step()
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
    return batch * steps / (time.perf_counter() - start)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu} CPU, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--layer", default="blocks.4")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=30, help="measured steps per configuration")
    parser.add_argument(
        "--batch-sizes", default="auto,1,8,32", help="comma-separated; 'auto' = the batch size featviz picks"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--lucent", help="folder where torch-lucent is installed (--target)")
    parser.add_argument("--lucent-units", type=int, default=2, help="units Lucent renders")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    device = torch.device(args.device)
    model = featviz.load_model(args.model, device)
    layer_info = {info.layer: info for info in featviz.layers(model)}
    if args.layer not in layer_info:
        raise SystemExit(f"{args.model} has no layer {args.layer!r}")
    channels = layer_info[args.layer].channels or 1
    size = (args.size, args.size)
    model_size = model.featviz_preprocess.input_size or size
    common = {
        "steps": args.steps,
        "size": size,
        "precision": args.precision,
        "compile": args.compile,
        "progress": False,
        "device": device,
        # Steady-state steps: the first 16 steps of a default render also redirect ReLU gradients,
        # which costs ~1.8x a plain step on CPU (benchmarks/RESULTS.md); not what this measures.
        "redirect_relu": False,
    }

    def lucent_rate() -> float:
        """Lucent image-steps/s, one unit at a time (mean over --lucent-units units)."""
        seconds = 0.0
        for channel in range(args.lucent_units):
            seconds += run_lucent(args.lucent, model, f"{args.layer}:{channel}", steps=args.steps)[1]
        return args.lucent_units * args.steps / seconds

    # Lucent is timed before and after the featviz runs (the machine may be shared and noisy).
    lucent_before = lucent_rate() if args.lucent else None
    rows = []
    for spec in args.batch_sizes.split(","):
        batch = None if spec == "auto" else int(spec)
        # 'auto' renders a layer's worth of units (up to 32 on CPU, 1024 on CUDA) so featviz
        # picks its batch size as it would for an atlas.
        count = min(channels, batch or (1024 if device.type == "cuda" else 32))
        warm = featviz.render(
            model, args.layer, channels=range(count), batch_size=batch, **{**common, "steps": 2}
        )  # warm-up (and compile, if asked); tells the batch size featviz picks
        picked = int(warm.settings["batch_size"])
        bf16 = warm.settings["precision"] == "bf16"
        channels_last = bool(warm.settings["channels_last"])
        before = ceiling(model, args.layer, picked, model_size, args.steps, device, bf16, channels_last)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        result = featviz.render(model, args.layer, channels=range(count), batch_size=batch, **common)
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        after = ceiling(model, args.layer, picked, model_size, args.steps, device, bf16, channels_last)
        ours = count * args.steps / result.seconds
        roof = (before + after) / 2
        row = {
            "batch_size": picked,
            "batch_spec": spec,
            "images": count,
            "featviz_image_steps_per_s": ours,
            "ceiling_image_steps_per_s": roof,
            "ratio": ours / roof,
            "precision": "bf16" if bf16 else "fp32",
            "channels_last": channels_last,
            "peak_memory_mib": peak,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    lucent = None
    if args.lucent and lucent_before is not None:
        rates = (lucent_before, lucent_rate())
        rate = sum(rates) / 2
        best = max(rows, key=lambda r: r["featviz_image_steps_per_s"])
        single = [r for r in rows if r["images"] == 1]
        lucent = {
            "image_steps_per_s": rate,
            "image_steps_per_s_before_after": rates,
            "units": args.lucent_units,
            "speedup_best_batch": best["featviz_image_steps_per_s"] / rate,
            "best_batch_size": best["batch_size"],
            "speedup_single_unit": single[0]["featviz_image_steps_per_s"] / rate if single else None,
        }
        print(json.dumps({"lucent": lucent}), flush=True)

    record = {
        "command": " ".join(["python", *sys.argv]),
        "device": machine(device),
        "torch": torch.__version__,
        "featviz": featviz.__version__,
        "model": args.model,
        "layer": args.layer,
        "size": args.size,
        "steps": args.steps,
        "results": rows,
        "lucent": lucent,
    }
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)
    print(f"\n{record['device']}, {args.model} {args.layer} at {args.size} px, {args.steps} steps")
    print(f"{'batch':>6}{'featviz img-steps/s':>21}{'ceiling':>10}{'ratio':>7}")
    for row in rows:
        print(
            f"{row['batch_size']:>6}{row['featviz_image_steps_per_s']:>21.1f}"
            f"{row['ceiling_image_steps_per_s']:>10.1f}{row['ratio']:>7.2f}"
        )
    if lucent:
        print(
            f"Lucent one unit at a time: {lucent['image_steps_per_s']:.1f} image-steps/s; "
            f"featviz per-unit speed-up {lucent['speedup_best_batch']:.1f}x at batch "
            f"{lucent['best_batch_size']}, single unit {lucent['speedup_single_unit'] or 0:.1f}x"
        )


if __name__ == "__main__":
    main()
