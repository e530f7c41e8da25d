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
        (--model random:TIMM_NAME: a timm architecture with random weights, e.g. random:vit_tiny_patch16_224)
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
from featviz import rng
from featviz.rendering.optimize import _drop_nonfinite
from featviz.rendering.param import make_param
from featviz.rendering.redirect import RedirectedReLU
from featviz.rendering.transforms import make_transforms

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
    with featviz.prepare(model, preprocess="none").hooked({layer}, bf16=bf16, normalized=True) as forward:

        def step() -> None:
            act = forward(x)[layer]
            act.mean().backward()

        return batch / _seconds_per_call(step, steps, device, warmup=3)


def _seconds_per_call(work, steps: int, device: torch.device, warmup: int = 2) -> float:
    """Seconds per call of ``work``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        work()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        work()
    sync(device)
    return (time.perf_counter() - start) / steps


def breakdown(model, layer: str, batch: int, size: tuple[int, int], steps: int, device: torch.device) -> dict:
    """Milliseconds per step of each part of a default render step, each timed on its own.

    model = bare forward+backward of the prefix (the ceiling); param = the Fourier image's
    forward+backward; warp = the "wide" transforms' forward+backward; attribution = summing the
    input gradient's magnitude; nonfinite = the NaN/inf mask on the gradients; optimizer = Adam's
    step; redirection = the extra cost of a forward+backward with ReLU redirection on.
    """
    seeds = rng.image_seeds(0, batch)
    image = make_param("fft", size, batch, seeds).to(device)
    pipeline = make_transforms("wide").to(device)
    u = pipeline.sample(seeds, 1)[0].to(device)
    opt = torch.optim.Adam(image.parameters(), lr=0.025)
    x = torch.rand(batch, 3, *size, device=device, requires_grad=True)
    prepared = featviz.prepare(model)
    scores = torch.zeros(batch, device=device)
    attribution = torch.zeros(batch, 1, *size, device=device)
    grad = torch.rand(batch, 3, *size, device=device)

    def param() -> None:
        image().sum().backward()

    def warp() -> None:
        pipeline(x, u, size).sum().backward()

    def attribute() -> None:
        attribution.add_(grad.abs().sum(1, keepdim=True).nan_to_num(0.0, 0.0, 0.0))

    def nonfinite() -> None:
        _drop_nonfinite(image, scores)

    def optimizer() -> None:
        opt.step()

    with prepared.hooked({layer}) as forward:

        def plain() -> None:
            forward(x)[layer].mean().backward()

        def redirected() -> None:
            with RedirectedReLU(prepared.model):
                forward(x)[layer].mean().backward()

        param()  # gives the parameters gradients for the optimizer and the mask
        parts = {
            "model": _seconds_per_call(plain, steps, device),
            "param": _seconds_per_call(param, steps, device),
            "warp": _seconds_per_call(warp, steps, device),
            "attribution": _seconds_per_call(attribute, steps, device),
            "nonfinite": _seconds_per_call(nonfinite, steps, device),
            "optimizer": _seconds_per_call(optimizer, steps, device),
        }
        parts["redirection"] = _seconds_per_call(redirected, steps, device) - parts["model"]
    return {name: round(1000 * seconds, 2) for name, seconds in parts.items()}


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
    parser.add_argument(
        "--breakdown", action="store_true", help="also time each part of a step on its own, per batch size"
    )
    args = parser.parse_args()

    device = torch.device(args.device)
    if args.model.startswith("random:"):  # a timm architecture with random weights: speed only
        import timm

        model = timm.create_model(args.model.split(":", 1)[1], pretrained=False).eval().to(device)
    else:
        model = featviz.load_model(args.model, device)
    layer_info = {info.layer: info for info in featviz.layers(model)}
    if args.layer not in layer_info:
        raise SystemExit(f"{args.model} has no layer {args.layer!r}")
    channels = layer_info[args.layer].channels or 1
    size = (args.size, args.size)
    model_size = featviz.prepare(model).input_size(size)
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
        if args.breakdown:
            row["breakdown_ms_per_step"] = breakdown(model, args.layer, picked, size, args.steps, device)
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
        if "breakdown_ms_per_step" in row:
            print(
                "        ms per step: "
                + ", ".join(f"{k} {v}" for k, v in row["breakdown_ms_per_step"].items())
            )
    if lucent:
        print(
            f"Lucent one unit at a time: {lucent['image_steps_per_s']:.1f} image-steps/s; "
            f"featviz per-unit speed-up {lucent['speedup_best_batch']:.1f}x at batch "
            f"{lucent['best_batch_size']}, single unit {lucent['speedup_single_unit'] or 0:.1f}x"
        )


if __name__ == "__main__":
    main()
