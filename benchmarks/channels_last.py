"""Channels-last against channels-first input: a bare forward+backward of several models.

    python benchmarks/channels_last.py [--device cpu] [--batch 8] [--rounds 3] [--models ...] [--json PATH]

featviz feeds the model channels-last images by default (render option ``channels_last``). This
measures why: for each model, the median time of a forward and a backward pass to the input (the
model's parameters frozen, as during a render) with the input channels-first and channels-last,
alternated round by round, and their ratio. Random weights: the memory layout, not the values,
decides the speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import quality
import timm
import torch
import torchvision

MODELS = {
    "efficientnet_lite0": lambda: timm.create_model("efficientnet_lite0"),
    "resnet50": lambda: torchvision.models.resnet50(),
    "mobilenetv3_large_100": lambda: timm.create_model("mobilenetv3_large_100"),
    "convnext_tiny": lambda: timm.create_model("convnext_tiny"),
    "vit_tiny_patch16_224": lambda: timm.create_model("vit_tiny_patch16_224"),
    "swin_tiny_patch4_window7_224": lambda: timm.create_model("swin_tiny_patch4_window7_224"),
}
DEFAULT_MODELS = [name for name in MODELS if not name.startswith("swin")]


def step_time(model: torch.nn.Module, x: torch.Tensor, channels_last: bool, repeats: int) -> float:
    """Seconds per forward+backward to the input, after one warm-up pass."""

    def once() -> None:
        image = x.detach().requires_grad_(True)
        fed = image.contiguous(memory_format=torch.channels_last) if channels_last else image
        model(fed).float().sum().backward()

    once()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=DEFAULT_MODELS)
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(2)
    rows = []
    for name in args.models:
        model = MODELS[name]().eval().to(args.device)
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        x = torch.rand(args.batch, 3, 224, 224, device=args.device)
        first, last = [], []
        for _ in range(args.rounds):
            first.append(step_time(model, x, False, args.repeats))
            last.append(step_time(model, x, True, args.repeats))
        row = {
            "model": name,
            "channels_first_s": round(statistics.median(first), 4),
            "channels_last_s": round(statistics.median(last), 4),
        }
        row["ratio"] = round(row["channels_last_s"] / row["channels_first_s"], 3)
        rows.append(row)
        print(
            f"{name}: channels-first {row['channels_first_s']:.3f} s, channels-last "
            f"{row['channels_last_s']:.3f} s per forward+backward of {args.batch}: {row['ratio']:.2f}x",
            flush=True,
        )
    if args.json:
        record = {
            "command": " ".join(["python", *sys.argv]),
            "machine": quality.machine() if args.device == "cpu" else torch.cuda.get_device_name(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"),
            "results": rows,
        }
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)


if __name__ == "__main__":
    main()
