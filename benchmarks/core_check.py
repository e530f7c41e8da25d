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
import types

import numpy as np
import torch
import torch.nn.functional as F

import featviz
from featviz.hooks import Recorder, guarded
from featviz.io import to_uint8

PHOTOS = [
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "stereo_motorcycle",
    "hubble_deep_field",
    "brick",
    "grass",
    "gravel",
    "camera",
]


def reference_images(size: int = 224) -> torch.Tensor:
    """The 50 reference crops described in the module docstring, ``(50, 3, size, size)``."""
    from skimage import data

    crops = []
    for name in PHOTOS:
        array = getattr(data, name)()
        array = array[0] if isinstance(array, tuple) else array
        x = torch.tensor(np.asarray(array), dtype=torch.float32) / 255
        x = x[..., None].repeat(1, 1, 3) if x.dim() == 2 else x[..., :3]
        x = x.permute(2, 0, 1)
        h, w = x.shape[-2:]
        s = min(h, w)
        c = int(0.6 * s)
        boxes = [((h - s) // 2, (w - s) // 2, s), (0, 0, c), (0, w - c, c), (h - c, 0, c), (h - c, w - c, c)]
        for top, left, side in boxes:
            crop = x[:, top : top + side, left : left + side][None]
            crops.append(F.interpolate(crop, size=size, mode="bilinear", antialias=True)[0])
    return torch.stack(crops)


def channel_means(model, layer: str, channel: int, images: torch.Tensor) -> torch.Tensor:
    """Mean activation of ``layer:channel`` for each image (in [0, 1], model-input size)."""
    normalize = model.featviz_preprocess.module("cpu")
    size = model.featviz_preprocess.input_size
    with guarded(model), Recorder(model, {layer}) as recorder, torch.no_grad():
        acts = recorder.run(normalize(F.interpolate(images, size=size, mode="bilinear")))
    return acts[layer][:, channel].flatten(1).mean(1)


def eight_bit(images: torch.Tensor) -> torch.Tensor:
    """What a saved PNG holds: quantize to 8 bits and back."""
    return to_uint8(images).movedim(-1, -3).float() / 255


def run_lucent(path: str, model, unit: str, steps: int = 512) -> tuple[torch.Tensor, float, int]:
    """Render ``unit`` with Lucent's defaults (512 steps unless ``steps``); returns
    (image 1x3xHxW in [0, 1], seconds, steps)."""
    sys.path.insert(0, path)
    import kornia
    import kornia.geometry.transform as kgt

    # Lucent 0.1.8 predates kornia's geometry module move and imports IPython at import time.
    kornia.get_rotation_matrix2d = kgt.get_rotation_matrix2d
    kornia.warp_affine = kgt.warp_affine
    if "IPython" not in sys.modules:
        ipython = types.ModuleType("IPython")
        ipython.display = types.ModuleType("IPython.display")
        ipython.display.display = ipython.display.HTML = ipython.display.Image = lambda *a, **k: None
        sys.modules["IPython"], sys.modules["IPython.display"] = ipython, ipython.display
    from lucent.optvis import render

    layer, channel = unit.split(":")
    start = time.perf_counter()
    images = render.render_vis(
        model,
        f"{layer.replace('.', '_')}:{channel}",
        thresholds=(steps,),
        show_image=False,
        progress=False,
    )
    seconds = time.perf_counter() - start
    return torch.tensor(images[-1]).permute(0, 3, 1, 2), seconds, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", nargs="+", default=["blocks.3:10", "blocks.4:12", "blocks.5:20"])
    parser.add_argument("--steps", type=int, help="featviz steps (default: featviz's default)")
    parser.add_argument("--lucent", help="folder where torch-lucent is installed (--target)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(2)

    model = featviz.load_model("efficientnet_lite0")
    refs = reference_images()
    rows = []
    for unit in args.units:
        layer, channel = unit.split(":")
        natural = channel_means(model, layer, int(channel), refs).max().item()
        kwargs = {} if args.steps is None else {"steps": args.steps}
        start = time.perf_counter()
        result = featviz.render(model, unit, progress=False, seed=0, **kwargs)
        seconds = time.perf_counter() - start
        act = channel_means(model, layer, int(channel), eight_bit(result.images)).item()
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
            lucent_act = channel_means(model, layer, int(channel), eight_bit(image)).item()
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
