"""The exploratory runs behind featviz's defaults (see README.md here); ran at commit 0ce9a4e.

    python benchmarks/results/search_defaults/explore.py CONFIGS.json [--channels]

Each config: ``name``, ``kw`` (render arguments), optional ``tf`` ([pad, jitter, scale min, scale
max, rotation], then a 4 px jitter, or "std"), ``decay`` (FourierImage's 1/f exponent, patched
into its constructor defaults), ``extra`` ("noise" or "2crops") and ``seed``. Prints one JSON line
of quality.py metrics per config over the 8 class logits (and quality.py's 6 channels with
``--channels``).
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/
import quality  # noqa: E402
import torch  # noqa: E402

import featviz  # noqa: E402
import featviz.rendering.param as P  # noqa: E402
from featviz import transforms as T  # noqa: E402

torch.set_num_threads(2)
CLASSES = [285, 967, 657, 1, 130, 309, 417, 949]
JUDGES = ["efficientnet_lite1", "efficientnet_lite2"]
KEYS = (
    "config",
    "activation_ratio",
    "robustness",
    "top5_transfer",
    "class_probability",
    "plausibility",
    "spectral_slope",
    "high_frequency_share",
    "seconds_per_unit",
)


def transforms(spec: list | str) -> list | str:
    if spec == "std":
        return "standard"
    pad, jitter, low, high, rotation = spec
    return [T.Pad(pad), T.Jitter(jitter), T.RandomScale(low, high), T.RandomRotate(rotation), T.Jitter(4)]


def main() -> None:
    channels = quality.FULL_CHANNELS if "--channels" in sys.argv else []
    model = featviz.load_model("efficientnet_lite0")
    with open(sys.argv[1]) as handle:
        configs = json.load(handle)
    for config in configs:
        kwargs = dict(config["kw"])
        if "tf" in config:
            kwargs["transforms"] = transforms(config["tf"])
        if "extra" in config:
            base = kwargs["transforms"] if isinstance(kwargs["transforms"], list) else T.standard()
            if config["extra"] == "noise":
                base = [*base, T.GaussianNoise(config.get("noise", 0.02))]
            if config["extra"] == "2crops":
                base = [*base, T.MultiCrop(2, 0.5, 1.0)]
            kwargs["transforms"] = base
        P.FourierImage.__init__.__defaults__ = (1, 0, config.get("decay", 1.0), True, 0.01)
        targets = [*channels, *(f"output:{c}" for c in CLASSES)]
        start = time.perf_counter()
        result = featviz.render(model, targets, seed=config.get("seed", 0), progress=False, **kwargs)
        seconds = time.perf_counter() - start
        steps = kwargs.get("steps", 256)
        row = quality.score(model, result.images, config["name"], steps, seconds, channels, CLASSES, JUDGES)
        print(json.dumps({k: row[k] for k in KEYS}), flush=True)


if __name__ == "__main__":
    main()
