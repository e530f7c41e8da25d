"""The ``featviz`` command line (also ``python -m featviz``).

Examples::

    featviz render efficientnet_lite0 blocks.4:12 -o out.png --steps 384 --size 224 --seed 0
    featviz render efficientnet_lite0 blocks.4 --channels 0:8 -o grid.png
    featviz layers efficientnet_lite0
"""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from featviz.errors import FeatvizError, InvalidArgumentError
from featviz.options import (
    ACTIVATION_ATLAS_GRID,
    ACTIVATION_ATLAS_VECTORS,
    CONCEPT_VECTORS,
    CONCEPTS_SHOWN,
    EXPLAIN_GRID,
    EXPLAIN_GROUPS,
    EXPLAIN_SIZE,
    EXPLAIN_STEPS,
    EXPLAIN_TOP,
    OPTIONS,
    SAE_ACTIVE,
    SAE_EPOCHS,
    shows_default,
)
from featviz.reports import frame
from featviz.targets import GRAMMAR, parse_channels

_MODEL_HELP = (
    "a zoo name (efficientnet_lite0, efficientnet_lite1/2 if installed, torchvision:NAME, "
    "timm:NAME), a TorchScript file, or a file saved with torch.save(model, PATH) -- loading "
    "such a pickle runs code from the file, so only use files you trust"
)


#: What Ctrl-C leaves of a report that renders through the render cache.
_RENDERS_KEPT = (
    "the {what} shows the finished {done} (kept in the cache); rerun the same command to complete it"
)


def _load(spec: str):  # noqa: ANN202 - returns an nn.Module or a zoo name
    """A zoo name stays a name; an existing file is loaded as a model.

    Safe readers first: ``torch.load(weights_only=True)`` (which cannot run code, and tells a
    state dict apart), then TorchScript; a whole pickled module last, since unpickling runs code.
    """
    path = Path(spec)
    if not path.is_file():
        return spec
    import torch
    from torch import nn

    try:
        model = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not plain tensors: a TorchScript file or a pickled module
        try:
            with warnings.catch_warnings():  # torch deprecates TorchScript; it still loads
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(str(path), map_location="cpu")
        except Exception:  # noqa: BLE001
            print(
                f"featviz: loading {spec} as a pickled module, which runs code from the file; "
                "only use files you trust",
                file=sys.stderr,
            )
            try:
                model = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as error:  # noqa: BLE001
                raise InvalidArgumentError(
                    f"could not load a model from {spec!r} ({type(error).__name__}: {error}); save "
                    "the whole module with torch.save(model, PATH) or torch.jit.save"
                ) from error
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(
            f"{spec!r} holds a {type(model).__name__}, not an nn.Module; a state dict needs its "
            "architecture: build the model in Python, load the state dict, and call "
            "featviz.render(model, ...)"
        )
    return model


def _device(model: object, requested: str | None) -> Any:  # noqa: ANN401 - a torch.device or str
    """The device for a command: the one asked for, else the best one here (a model file is
    loaded onto the CPU first)."""
    if requested is not None or isinstance(model, str):
        return requested
    from featviz.model.device import best_device

    return best_device()


def _render(args: argparse.Namespace) -> int:
    """Render images that maximize a unit."""
    import featviz

    targets: list[str] = args.target
    channels = parse_channels(args.channels) if args.channels else None
    if channels is not None and len(targets) != 1:
        raise InvalidArgumentError("--channels needs exactly one layer target, e.g. 'blocks.4'")
    target = targets[0] if len(targets) == 1 else targets
    model = _load(args.model)
    options = _render_options(args)
    options["device"] = _device(model, options["device"])
    result = featviz.render(model, target, channels=channels, batch=args.batch, **options)
    path = result.save(args.output)
    for label, score in zip(result.targets, result.scores.tolist(), strict=True):
        print(f"{label}\tscore {score:.4g}")
    print(f"wrote {path} ({len(result)} image(s), {result.steps_done} steps, {result.seconds:.1f} s)")
    if result.interrupted:
        steps = f"after {result.steps_done} of {result.settings['steps']} steps"
        return frame.interrupted(f"{path} holds the partial picture", after=steps)
    return 0


def _atlas(args: argparse.Namespace) -> int:
    """Render every channel of a layer into a folder with a gallery.

    Render channels of a layer in batches into a folder: one PNG per channel, grid.png,
    index.html and manifest.json. Rerun to resume; works under torchrun.
    """
    import featviz

    channels = parse_channels(args.channels) if args.channels else None
    settings = {"examples": args.examples, "top_k": args.top_k, "negative": args.negative}
    about = (args.layer, channels, args.output)
    result = _write_sharded(args, "channels", featviz.atlas, about, {**settings, "overwrite": args.overwrite})
    if result is None:
        return 130
    if result.index is not None:
        print(f"wrote {len(result.channels)} channels to {result.out_dir}: open {result.index}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    """Explain what a model sees in a photo, layer by layer, into a report folder.

    What each layer sees in a photo and where, which channels carry the decision: activation
    maps, semantic dictionary, activation grid, neuron groups (NMF), attribution (gradient x
    activation, Grad-CAM), with renders; with --concepts, the concepts of a dictionary that add
    most to the class. Writes DIR/index.html (self-contained), PNGs and explanation.json. Renders
    are cached, so a second explanation is fast.
    """
    import featviz

    settings = {"grid": args.grid, "groups": args.groups, "top": args.top, "atlases": args.atlas or ()}
    settings["faithfulness"] = not args.no_faithfulness
    settings["concepts"] = args.concepts
    settings["out_dir"] = args.output  # the first page at once, filled in as renders finish
    about = (args.image, _layer_list(args.layers), args.target)
    explanation, index = _write_report(args, "an explanation", featviz.explain, about, settings)
    for class_, name, probability in explanation.predictions[:3]:
        print(f"{name} ({class_})\t{probability:.3f}")
    print(
        f"wrote {index} ({len(explanation.layers)} layers; {explanation.rendered} renders made, "
        f"{explanation.reused} from the cache; {explanation.seconds:.1f} s)"
    )
    if explanation.interrupted:
        return frame.interrupted(_RENDERS_KEPT.format(what="report", done="renders"))
    return 0


def _activation_atlas(args: argparse.Namespace) -> int:
    """Lay out a layer's activations over a photo folder and render each cell (Carter et al.).

    The activation atlas of one layer: activation vectors of your photos (a few per photo and
    position) laid out in 2-D by UMAP, cut into a grid, and each cell's mean activation rendered
    as a direction. Writes DIR/index.html (hover and click cells), atlas.jpg, the cells' renders
    and photo regions, and activation_atlas.json. Renders are cached: rerun to resume.
    """
    import featviz

    settings = {
        "grid": args.grid,
        "vectors": args.vectors,
        "min_count": args.min_count,
        "layout": args.layout,
    }
    make = featviz.activation_atlas
    atlas, index = _write_report(args, "an activation atlas", make, (args.layer, args.photos), settings)
    print(
        f"wrote {index}: {len(atlas.cells)} cells from {atlas.vectors} activation vectors of "
        f"{atlas.photos} photos ({atlas.rendered} renders made, {atlas.reused} from the cache; "
        f"{atlas.seconds.get('total', 0):.1f} s)"
    )
    if atlas.interrupted:
        return frame.interrupted(_RENDERS_KEPT.format(what="page", done="cells"))
    return 0


def _concepts(args: argparse.Namespace) -> int:
    """Learn a layer's concepts from a photo folder, rank them for a class, render each.

    A concept dictionary of one layer learned from the activations of your photos (NMF,
    CRAFT-style, or a TopK sparse autoencoder), each concept's importance for a class (gradient x
    concept activation, checked by deleting concepts from the layer), its render and the photo
    crops where it is strongest. Writes DIR/index.html, concepts.json and DIR/dictionary.pt (for
    featviz explain --concepts). Renders are cached and a sparse autoencoder's training is kept
    in DIR: rerun to resume.
    """
    import featviz

    settings = {
        "k": args.k,
        "method": args.method,
        "target": args.target,
        "active": args.active,
        "epochs": args.epochs,
        "vectors": args.vectors,
        "shown": args.shown,
        "checkpoint": str(Path(args.output) / ".sae-checkpoint.pt"),
    }
    found, index = _write_report(
        args, "a concept report", featviz.concepts, (args.layer, args.photos), settings
    )
    q, s = found.quality, found.deletion_summary
    print(
        f"{found.method}: {found.dictionary.size} concepts from {found.vectors} vectors of "
        f"{found.photos} photos; R² {q['r2']:.3f}, L0 {q['l0']:.1f}, {int(q['dead'])} dead"
    )
    print(
        f"ranked for {found.target_name} ({found.target}); the class logit drops by {s['drop_top']:.3g} "
        f"with the top 3 concepts removed, by {s['drop_random']:.3g} with 3 random ones (mean over "
        f"{int(s['classes'])} classes)"
    )
    print(
        f"wrote {index} ({found.rendered} renders made, {found.reused} from the cache; "
        f"{found.seconds.get('total', 0):.1f} s)"
    )
    if found.interrupted:
        return frame.interrupted(_RENDERS_KEPT.format(what="page", done="concepts"))
    return 0


def _write_report(
    args: argparse.Namespace,
    what: str,
    make: Callable[..., Any],
    arguments: tuple[Any, ...],
    keywords: dict[str, Any],
) -> tuple[Any, Any]:
    """Claim the output folder, make the report (``make(model, *arguments, **keywords, **options)``
    with the loaded model and the options every report takes: render options, cache, whether to
    render), save it there; returns the report and its page."""
    model = _load(args.model)
    options = {**_render_options(args), "cache": _cache(args), "render": not args.no_render}
    options["device"] = _device(model, options["device"])
    with frame.claim(args.output, what):
        report = make(model, *arguments, **keywords, **options)
        if keywords.get("out_dir") is not None:  # it wrote itself there as it went, complete at the end
            return report, Path(args.output) / "index.html"
        return report, report.save(args.output)


def _diagnose(args: argparse.Namespace) -> int:
    """Diagnose a model's layers on your images: dead/saturated units, gradients, transfer.

    Unit health (dead, saturated, always-on channels), gradient health (vanishing, exploding)
    and transfer (linear probes by depth with labels, with intervals and a test against chance,
    and where to stop freezing only where they support it; linear CKA against --compare) per
    layer, streaming over a folder of images. Writes DIR/index.html, diagnosis.json and SVG charts.
    """
    import featviz

    model = _load(args.model)
    device = _device(model, args.device)
    layers = args.layers
    if layers not in (None, "blocks", "activations"):
        layers = _layer_list(layers)
    with frame.claim(args.output, "a diagnosis"):
        diagnosis = featviz.diagnose(
            model,
            args.images,
            "folders" if args.labels_from_folders else None,
            layers,
            compare=_load(args.compare) if args.compare else None,
            batch=args.batch,
            render=not args.no_render,
            steps=args.steps,
            seed=args.seed,
            cache=_cache(args),
            atlases=args.atlas or (),
            device=device,
            layouts=args.layouts,
            progress=not args.quiet,
        )
        index = diagnosis.save(args.output)
    for name, flags in diagnosis.flagged.items():
        print(f"{name}\t{'; '.join(flags)}")
    for warning in diagnosis.warnings:
        print(f"warning: {warning}")
    if diagnosis.freeze_up_to:
        print(f"freeze up to {diagnosis.freeze_up_to}")
    elif diagnosis.freeze_verdict:
        print(diagnosis.freeze_verdict)
    print(
        f"wrote {index} ({diagnosis.images} images, {len(diagnosis.layers)} layers, "
        f"{diagnosis.seconds:.1f} s)"
    )
    return 0


def _microscope(args: argparse.Namespace) -> int:
    """Render a whole model, every layer and unit, into one browsable offline site.

    Every block output (or --layers) rendered as a neuron atlas, then an index of the layers
    with a search box, a page per layer and a page per unit (renders, negative, exemplars, the
    classes it raises, the units below that excite it). Rerun to resume; works under torchrun.
    With --draft, every unit is first rendered quickly (128 steps at 128 px); the same command
    without --draft then refines the site in place.
    """
    import featviz

    layers = _layer_list(args.layers)
    channels: int | list[int] | None = None
    if args.channels:
        channels = int(args.channels) if args.channels.isdigit() else parse_channels(args.channels)
    settings = {
        "examples": args.examples,
        "activation_atlases": _atlas_layers(args.activation_atlas),
        "atlas_grid": args.atlas_grid,
        "negative": not args.no_negative,
        "overwrite": args.overwrite,
        "draft": args.draft,
    }
    result = _write_sharded(args, "units", featviz.microscope, (args.output, layers, channels), settings)
    if result is None:
        return 130
    if result.index is not None:
        units = sum(len(layer["units"]) for layer in result.record["layers"])
        print(
            f"wrote {units} units of {len(result.record['layers'])} layers to {result.out_dir}: "
            f"open {result.index}"
        )
    return 0


def _layer_list(value: str | None) -> list[str] | None:
    """``--layers a,b`` → ``["a", "b"]`` (None when the flag was not given)."""
    return [layer.strip() for layer in value.split(",") if layer.strip()] if value else None


def _cache(args: argparse.Namespace) -> bool | str:
    """``--cache DIR`` / ``--no-cache`` → the ``cache=`` argument of a report."""
    return False if args.no_cache else (args.cache or True)


def _write_sharded(
    args: argparse.Namespace,
    units: str,
    make: Callable[..., Any],
    arguments: tuple[Any, ...],
    keywords: dict[str, Any],
) -> Any:  # noqa: ANN401 - an AtlasResult or MicroscopeResult
    """An atlas or a microscope, which torchrun may shard (each rank then picks its own device
    unless one was asked for): ``make(model, *arguments, **keywords, **render options)``; None
    after Ctrl-C (the finished ``units`` are kept and said so)."""
    try:
        model = _load(args.model)
        options = _render_options(args)
        if options["device"] is None:
            del options["device"]
            if not frame.under_torchrun():
                options["device"] = _device(model, None)
        return make(model, *arguments, **keywords, **options)
    except KeyboardInterrupt:
        frame.interrupted(f"finished {units} are kept in {args.output}; rerun the same command to resume")
        return None


def _atlas_layers(value: str | None) -> bool | list[str]:
    if value is None:
        return False
    if value == "all":
        return True
    return [layer.strip() for layer in value.split(",") if layer.strip()]


def _layers(args: argparse.Namespace) -> int:
    """List a model's addressable layers."""
    import featviz

    model = _load(args.model)
    prepared = featviz.prepare(model, device=_device(model, args.device), layouts=args.layouts)
    table = prepared.layers(args.size)
    if args.filter:
        table = type(table)(info for info in table if args.filter in info.layer)
    print(table)
    return 0


# How each command-line render option is parsed; names, defaults and help come from OPTIONS.
_PARSING: dict[str, dict[str, Any]] = {
    "steps": {"type": int},
    "size": {"type": lambda text: _size(text), "metavar": "N|HxW"},
    "lr": {"type": float},
    "seed": {"type": int},
    "batch_size": {"type": int},
    "renders": {"type": int},
    "diversity": {"type": float},
    "compile": {"action": "store_true"},
    "alpha": {"action": "store_true"},
    "redirect_relu": {"action": "store_false", "flag": "--no-redirect-relu"},
    "resize": {"action": "store_false", "flag": "--no-resize"},
    "layouts": {"type": lambda text: _layouts(text), "metavar": "LAYER=KIND,..."},
}


def _layouts(text: str) -> dict[str, str]:
    from featviz.model.layouts import LayoutError, parse_layouts

    try:
        return parse_layouts(text)
    except LayoutError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _render_options(args: argparse.Namespace) -> dict[str, Any]:
    """The render settings shared by ``render`` and ``atlas``, by the names of OPTIONS."""
    options = {option.name: getattr(args, option.name) for option in OPTIONS if option.cli}
    options["progress"] = not args.quiet
    return options


def _add_render_options(parser: argparse.ArgumentParser, defaults: dict[str, Any] | None = None) -> None:
    """The render options as flags; ``defaults`` overrides some (a command with its own)."""
    defaults = defaults or {}
    for option in OPTIONS:
        if not option.cli:
            continue
        parsing = dict(_PARSING.get(option.name, {}))
        flag = parsing.pop("flag", "--" + option.name.replace("_", "-"))
        value = defaults.get(option.name, option.default)
        shown = option.name in defaults or shows_default(option)
        default = f" (default: {value})" if shown and not parsing.get("action") else ""
        parser.add_argument(flag, dest=option.name, default=value, help=option.help + default, **parsing)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_report_options(parser: argparse.ArgumentParser, *, atlas: bool = True) -> None:
    """The flags every report that renders through the render cache shares."""
    parser.add_argument("--cache", help="render cache folder (default: featviz's cache directory)")
    parser.add_argument("--no-cache", action="store_true", help="render everything anew, store nothing")
    if atlas:
        parser.add_argument(
            "--atlas",
            action="append",
            help="an atlas folder of this model to reuse renders from (repeatable)",
        )
    parser.add_argument(
        "--no-render", action="store_true", help="no renders: the numbers and maps alone, in seconds"
    )


def _command(
    commands: Any,  # noqa: ANN401 - argparse's subparsers action
    name: str,
    run: Callable[[argparse.Namespace], int],
    more: str = "",
) -> argparse.ArgumentParser:
    """A subcommand that takes a model first and runs ``run``: its help is the first line of
    ``run``'s docstring, its description the whole docstring (and ``more``)."""
    doc = inspect.cleandoc(run.__doc__ or name)
    first = doc.split("\n", 1)[0].rstrip(".")
    description = " ".join(doc.split()) + (f" {more}" if more else "")
    parser = commands.add_parser(name, help=first[0].lower() + first[1:], description=description)
    parser.add_argument("model", help=_MODEL_HELP)
    parser.set_defaults(run=run)
    return parser


def _add_count(parser: argparse.ArgumentParser, flag: str, default: int, help_: str) -> None:
    """An integer flag whose help ends with its default."""
    parser.add_argument(flag, type=int, default=default, help=f"{help_} (default {default})")


def _size(text: str) -> int | tuple[int, int]:
    parts = text.lower().split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be N or HxW, got {text!r}") from None
    if len(dims) == 1:
        return dims[0]
    if len(dims) == 2:
        return dims[0], dims[1]
    raise argparse.ArgumentTypeError(f"size must be N or HxW, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``featviz`` command."""
    from featviz.version import __version__

    parser = argparse.ArgumentParser(
        prog="featviz", description="Feature visualization for PyTorch vision models."
    )
    parser.add_argument("--version", action="version", version=f"featviz {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    render = _command(commands, "render", _render, f"Targets: {GRAMMAR}.")
    render.add_argument("target", nargs="+", help="one or more targets, e.g. blocks.4:12")
    render.add_argument(
        "-o",
        "--output",
        default="featviz.png",
        help="image file to write (a grid for several images; default featviz.png)",
    )
    render.add_argument("--channels", help="with one layer target: channels such as 0:8 or 3,7,9")
    render.add_argument("--batch", type=int, help="images per single target (each its own seed)")
    _add_render_options(render)

    atlas = _command(commands, "atlas", _atlas)
    atlas.add_argument("layer", help="dotted module path, e.g. blocks.4")
    atlas.add_argument("-o", "--output", default="atlas", help="output folder (default atlas)")
    atlas.add_argument("--channels", help="channels such as 0:64 or 3,7,9 (default: all)")
    _add_render_options(atlas)
    atlas.add_argument("--examples", help="folder of your images: show top exemplars per channel")
    atlas.add_argument("--top-k", type=int, default=4, help="exemplars per channel (default 4)")
    atlas.add_argument(
        "--negative", action="store_true", help="also render the image that minimizes each channel"
    )
    atlas.add_argument("--overwrite", action="store_true", help="start over if settings changed")

    explain = _command(commands, "explain", _explain)
    explain.add_argument("image", help="the photo (any image file Pillow reads)")
    explain.add_argument("-o", "--output", default="explanation", help="output folder (default explanation)")
    explain.add_argument("--layers", help="comma-separated layers (default: about 5 block outputs)")
    explain.add_argument("--target", type=int, help="class index to attribute (default: the top class)")
    _add_count(explain, "--grid", EXPLAIN_GRID, "most activation-grid cells per side")
    _add_count(explain, "--groups", EXPLAIN_GROUPS, "neuron groups (NMF) per layer")
    _add_count(explain, "--top", EXPLAIN_TOP, "channels per layer shown")
    explain.add_argument(
        "--no-faithfulness",
        action="store_true",
        help="skip deletion / insertion of each map (which map to believe; ~440 model passes)",
    )
    explain.add_argument(
        "--concepts",
        metavar="DICT",
        help="a concept dictionary of this model (the dictionary.pt written by `featviz concepts`): "
        "adds the concepts that add most to the class, with their maps and renders",
    )
    _add_report_options(explain)
    _add_render_options(explain, {"steps": EXPLAIN_STEPS, "size": EXPLAIN_SIZE})

    found = _command(commands, "concepts", _concepts)
    found.add_argument("layer", help="the layer (featviz layers MODEL lists them)")
    found.add_argument("photos", help="folder of your images (searched recursively)")
    found.add_argument("-o", "--output", default="concepts", help="output folder")
    found.add_argument(
        "--method", choices=("nmf", "sae"), default="nmf", help="NMF (default) or a TopK sparse autoencoder"
    )
    found.add_argument(
        "-k",
        type=int,
        help="concepts (default 16 for NMF, 4 x the layer's channels for a sparse autoencoder)",
    )
    found.add_argument("--target", type=int, help="class to rank concepts for (default: the most predicted)")
    _add_count(found, "--active", SAE_ACTIVE, "sparse autoencoder: active concepts per position (TopK's K)")
    _add_count(found, "--epochs", SAE_EPOCHS, "sparse autoencoder: passes over the vectors")
    _add_count(found, "--vectors", CONCEPT_VECTORS, "most activation vectors learned from")
    _add_count(found, "--shown", CONCEPTS_SHOWN, "concepts shown and rendered, by importance")
    _add_report_options(found, atlas=False)
    _add_render_options(found, {"steps": EXPLAIN_STEPS, "size": EXPLAIN_SIZE})

    space = _command(commands, "activation-atlas", _activation_atlas)
    space.add_argument("layer", help="the layer (featviz layers MODEL lists them)")
    space.add_argument("photos", help="folder of your images (searched recursively)")
    space.add_argument("-o", "--output", default="activation_atlas", help="output folder")
    _add_count(space, "--grid", ACTIVATION_ATLAS_GRID, "cells per side")
    _add_count(space, "--vectors", ACTIVATION_ATLAS_VECTORS, "most activation vectors laid out")
    space.add_argument(
        "--min-count",
        type=int,
        help="fewest vectors a cell needs to be shown (default: a quarter of the mean)",
    )
    space.add_argument(
        "--layout", choices=("umap", "pca"), default="umap", help="layout method (default umap)"
    )
    _add_report_options(space, atlas=False)
    _add_render_options(space, {"steps": EXPLAIN_STEPS, "size": EXPLAIN_SIZE})

    diagnose = _command(commands, "diagnose", _diagnose)
    diagnose.add_argument("images", help="a folder of images (one subfolder per class for labels)")
    diagnose.add_argument("-o", "--output", default="diagnosis", help="output folder (default diagnosis)")
    diagnose.add_argument(
        "--labels-from-folders", action="store_true", help="each subfolder is a class (ImageFolder layout)"
    )
    diagnose.add_argument(
        "--layers", help="'blocks' (default: every block output), 'activations', or comma-separated layers"
    )
    diagnose.add_argument(
        "--compare", help="a second model (same forms as MODEL) for linear CKA between layers"
    )
    diagnose.add_argument("--batch", type=int, default=32, help="images per forward pass (default 32)")
    _add_report_options(diagnose)
    _add_count(diagnose, "--steps", EXPLAIN_STEPS, "steps of each flagged channel's render")
    diagnose.add_argument(
        "--seed", type=int, default=0, help="seed of the flagged channels' renders (default 0)"
    )
    diagnose.add_argument("--device", help="cpu, cuda, mps, ... (default: the GPU when there is one)")
    diagnose.add_argument(
        "--layouts", type=_layouts, metavar="LAYER=KIND,...", help="layouts featviz cannot decide"
    )
    diagnose.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    scope = _command(commands, "microscope", _microscope)
    scope.add_argument("-o", "--output", default="microscope", help="site folder (default microscope)")
    scope.add_argument("--layers", help="comma-separated layers (default: every block output)")
    scope.add_argument("--channels", help="per layer: the first N channels (N), or channels such as 0:16")
    scope.add_argument("--examples", help="folder of your images: show top exemplars per unit")
    scope.add_argument(
        "--activation-atlas",
        nargs="?",
        const="all",
        metavar="LAYERS",
        help="also an activation atlas of each layer (or these comma-separated layers) from --examples",
    )
    _add_count(scope, "--atlas-grid", ACTIVATION_ATLAS_GRID, "activation atlas cells per side")
    scope.add_argument("--no-negative", action="store_true", help="skip the negative renders")
    scope.add_argument("--overwrite", action="store_true", help="start layers over if settings changed")
    scope.add_argument(
        "--draft",
        action="store_true",
        help="a quick first pass: every unit once, short and small (a complete site in a fraction of "
        "the time); rerun without --draft to refine it in place",
    )
    _add_render_options(scope, {"resize": None})

    layers = _command(commands, "layers", _layers)
    layers.add_argument("--size", type=_size, help="input size N or HxW (default: model input)")
    layers.add_argument("--filter", help="only layers whose path contains this text")
    layers.add_argument("--device", help="cpu, cuda, mps, ... (default: the GPU when there is one)")
    layers.add_argument(
        "--layouts", type=_layouts, metavar="LAYER=KIND,...", help="layouts featviz cannot decide"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a featviz error, 130 for Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except FeatvizError as error:
        print(f"featviz: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return frame.interrupted("what finished is kept; rerun the same command to resume")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
