"""Default-render check: activation reached vs natural photos, and wall time (optionally vs Lucent).

For each unit (a channel of efficientnet_lite0), this script renders it with featviz's defaults,
then reports

* ``ratio`` — the channel's mean activation on the final image (no transforms, 8-bit image)
  divided by the channel's maximum mean activation over natural reference photos;
* ``seconds`` — the wall time of the default render (model already loaded).

Reference photos (all bundled with scikit-image, so offline): astronaut, chelsea, coffee, rocket,
stereo_motorcycle (left), hubble_deep_field, and the grey photos brick, grass, gravel, camera
(repeated to RGB); each contributes its center square and its four corner squares of 60% of the
short side, resized to 224 px — 50 references.

With ``--lucent`` the same units are also rendered by Lucent's ``render_vis`` with its defaults
(512 steps, 128 px image upsampled to the 224 px model input) on the same model, for a timing and
ratio comparison. Lucent is never a featviz dependency: install it beside featviz with
``pip install --no-deps --target /tmp/lucent_pkg torch-lucent==0.1.8 decorator`` and pass
``--lucent /tmp/lucent_pkg``.

Usage:
    python benchmarks/core_check.py [--units blocks.3:10 blocks.4:12 blocks.5:20] [--steps N]
                                    [--lucent PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import others
import torch

import featviz
from featviz.analysis import metrics


def channel_means(model, layer: str, channel: int, images: torch.Tensor) -> torch.Tensor:
    """Mean activation of ``layer:channel`` for each image, no transforms."""
    return metrics.unit_response(model, f"{layer}:{channel}", images)


def run_lucent(path: str, model, unit: str, steps: int = 512) -> tuple[torch.Tensor, float, int]:
    """Render ``unit`` with Lucent's defaults (512 steps unless ``steps``); returns
    (image 1x3xHxW in [0, 1], seconds, steps)."""
    images, seconds = others.lucent([path], model, [unit], "classifier", steps=steps)
    return images, seconds, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", nargs="+", default=["blocks.3:10", "blocks.4:12", "blocks.5:20"])
    parser.add_argument("--steps", type=int, help="featviz steps (default: featviz's default)")
    parser.add_argument("--lucent", help="folder where torch-lucent is installed (--target)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(2)

    model = featviz.load_model("efficientnet_lite0")
    refs = metrics.reference_images()
    rows = []
    for unit in args.units:
        layer, channel = unit.split(":")
        natural = channel_means(model, layer, int(channel), refs).max().item()
        kwargs = {} if args.steps is None else {"steps": args.steps}
        start = time.perf_counter()
        result = featviz.render(model, unit, progress=False, seed=0, **kwargs)
        seconds = time.perf_counter() - start
        act = channel_means(model, layer, int(channel), metrics.quantize(result.images)).item()
        row = {
            "unit": unit,
            "natural_max": natural,
            "featviz_activation": act,
            "featviz_ratio": act / natural,
            "featviz_steps": result.steps_done,
            "featviz_seconds": seconds,
        }
        if args.lucent:
            image, lucent_seconds, _ = run_lucent(args.lucent, model, unit)
            lucent_act = channel_means(model, layer, int(channel), metrics.quantize(image)).item()
            row.update(
                {
                    "lucent_activation": lucent_act,
                    "lucent_ratio": lucent_act / natural,
                    "lucent_steps": 512,
                    "lucent_seconds": lucent_seconds,
                }
            )
        rows.append(row)
        print(json.dumps(row))

    record = {
        "command": " ".join(sys.argv),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{torch.get_num_threads()} threads, {platform.platform()}",
        "torch": torch.__version__,
        "featviz": featviz.__version__,
        "results": rows,
    }
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)
    print(
        f"\n{'unit':<14}{'ratio':>8}{'seconds':>9}"
        + (f"{'lucent ratio':>14}{'lucent s':>10}" if args.lucent else "")
    )
    for row in rows:
        line = f"{row['unit']:<14}{row['featviz_ratio']:>8.2f}{row['featviz_seconds']:>9.1f}"
        if args.lucent:
            line += f"{row['lucent_ratio']:>14.2f}{row['lucent_seconds']:>10.1f}"
        print(line)


if __name__ == "__main__":
    main()
