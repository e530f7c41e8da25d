"""What the CPU test suite cannot check: featviz on a CUDA GPU.

For efficientnet_lite0 on one GPU this checks and times, in one run:

* every parameterization (and alpha, multicrop) renders finite images whose score rises, with
  bf16 autocast + channels-last (the CUDA default) and in fp32, and how far the two end apart;
* batch invariance on the GPU: a unit rendered with others equals the unit rendered alone (fp32);
* ``compile=True`` gives the eager result (fp32) and what it costs and saves;
* the cost of the redirected ReLU steps relative to plain steps;
* the default single-unit render (``featviz.render(model, "blocks.4:12")``), wall time.

Usage:
    python benchmarks/cuda_check.py [--steps 48] [--json out.json] [--png out.png]

Prints one JSON line per check and ``FAIL`` lines for broken expectations; exits 1 on any.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

import featviz
from featviz.model.hooks import model_device
from featviz.options import DEFAULTS

DEFAULT_STEPS = DEFAULTS.steps

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from speed import machine, sync  # noqa: E402 - sibling benchmark script

LAYER = "blocks.4"
CONFIGS = {
    "fft": {},
    "fft + alpha": {"alpha": True},
    "fft + multicrop": {"transforms": "multicrop"},
    "pixel": {"param": "pixel"},
    "maco": {"param": "maco"},
    "laplacian": {"param": "laplacian"},
    "cppn": {"param": "cppn"},
}


def timed(**kwargs) -> tuple[featviz.RenderResult, float]:
    device = model_device(kwargs["model"])
    sync(device)
    start = time.perf_counter()
    result = featviz.render(progress=False, **kwargs)
    sync(device)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--json", help="write every record here")
    parser.add_argument("--png", help="save the default single-unit render here")
    parser.add_argument("--units", type=int, default=64, help="channels in the compile/redirect checks")
    parser.add_argument("--device", default="cuda", help="cpu only to try the script out")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("cuda_check.py needs a CUDA GPU (or --device cpu to try it out)")
    model = featviz.load_model("efficientnet_lite0", device)
    records: list[dict] = []
    failures: list[str] = []

    def report(record: dict, ok: bool = True, why: str = "") -> None:
        record["ok"] = ok
        records.append(record)
        print(json.dumps(record), flush=True)
        if not ok:
            failures.append(f"{record['check']}: {why}")
            print(f"FAIL {record['check']}: {why}", flush=True)

    base = {"model": model, "target": LAYER, "channels": range(4), "steps": args.steps, "seed": 0}
    for name, extra in CONFIGS.items():
        scores = {}
        for precision in ("auto", "fp32"):
            result, seconds = timed(**base, **extra, precision=precision)
            start, end = result.history[0].mean().item(), result.scores.mean().item()
            finite = bool(torch.isfinite(result.images).all()) and bool(torch.isfinite(result.scores).all())
            scores[precision] = result.scores
            report(
                {
                    "check": f"{name} [{result.settings['precision']}]",
                    "score_start": round(start, 3),
                    "score_end": round(end, 3),
                    "seconds": round(seconds, 2),
                    "shape": list(result.images.shape),
                },
                ok=finite and end > start,
                why="non-finite result" if not finite else "score did not rise",
            )
        gap = ((scores["auto"] - scores["fp32"]).abs() / scores["fp32"].abs().clamp(min=1e-3)).max().item()
        report({"check": f"{name} bf16 vs fp32 final score, max relative gap", "gap": round(gap, 3)})

    # Batch invariance on the GPU: image i's seed comes from the seed and its place in the list,
    # so channel 0 rendered first among four must equal channel 0 rendered alone (fp32). Kernels
    # may differ by batch size, so after one step the two agree to float tolerance; Adam's
    # sign-like first updates let such differences grow over later steps (recorded, not judged).
    for steps in (1, 32):
        kwargs = {"steps": steps, "precision": "fp32", "progress": False}
        together = featviz.render(model, LAYER, channels=[0, 1, 2, 3], **kwargs)
        alone = featviz.render(model, LAYER, channels=[0], **kwargs)
        diff = (together.images[0] - alone.images[0]).abs()
        report(
            {
                "check": f"batch invariance fp32 after {steps} steps, pixel difference",
                "max": diff.max().item(),
                "mean": diff.mean().item(),
            },
            steps > 1 or diff.max().item() < 2e-2,  # TF32 convolutions on CUDA: ~1e-2 after a step
            f"max {diff.max().item()}",
        )

    # torch.compile: as good as eager mode (optimization amplifies float-order differences over
    # the steps, so the check is on the final scores, not the pixels), and what it costs.
    common = {"model": model, "target": LAYER, "channels": range(args.units), "seed": 0, "precision": "fp32"}
    eager, eager_s = timed(**common, steps=args.steps)
    _, first_s = timed(**common, steps=args.steps, compile=True)  # includes compilation
    compiled, compiled_s = timed(**common, steps=args.steps, compile=True)
    mean_diff = (eager.images - compiled.images).abs().mean().item()
    gap = ((eager.scores - compiled.scores).abs() / eager.scores.abs().clamp(min=1e-3)).max().item()
    report(
        {
            "check": f"compile=True vs eager (fp32, {args.units} channels, {args.steps} steps)",
            "mean_pixel_diff": round(mean_diff, 4),
            "max_pixel_diff": round((eager.images - compiled.images).abs().max().item(), 4),
            "max_relative_score_gap": round(gap, 4),
            "eager_s": round(eager_s, 2),
            "compiled_first_call_s": round(first_s, 2),
            "compiled_s": round(compiled_s, 2),
        },
        gap < 0.1,  # the pictures drift apart like bf16 vs fp32 ones; the scores must not
        f"score gap {gap}",
    )

    # ReLU redirection cost: 32 redirected steps vs 32 plain ones, 64 channels, CUDA defaults.
    common = {"model": model, "target": LAYER, "channels": range(args.units), "steps": 32, "seed": 0}
    featviz.render(progress=False, **common, redirect_relu=False)  # warm-up
    plain = featviz.render(progress=False, **common, redirect_relu=False).seconds
    redirected = featviz.render(progress=False, **common, redirect_relu=32).seconds
    report({"check": "redirected step / plain step", "ratio": round(redirected / plain, 2)})

    # Job 1: one unit, one picture, every default.
    result, seconds = timed(model=model, target="blocks.4:12")
    report(
        {
            "check": f"default render blocks.4:12 ({DEFAULT_STEPS} steps)",
            "seconds": round(seconds, 2),
            "score": round(result.scores.item(), 3),
            "settings": {k: str(result.settings[k]) for k in ("precision", "channels_last", "batch_size")},
        }
    )
    if args.png:
        result.save(args.png)

    record = {
        "command": " ".join(["python", *sys.argv]),
        "device": machine(device),
        "torch": torch.__version__,
        "featviz": featviz.__version__,
        "checks": records,
        "failures": failures,
    }
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)
    print(f"\n{record['device']}: {len(records) - len(failures)}/{len(records)} checks ok")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
