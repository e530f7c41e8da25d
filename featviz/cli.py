"""The ``featviz`` command line (also ``python -m featviz``).

Examples::

    featviz render efficientnet_lite0 blocks.4:12 -o out.png --steps 384 --size 224 --seed 0
    featviz render efficientnet_lite0 blocks.4 --channels 0:8 -o grid.png
    featviz layers efficientnet_lite0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from featviz.errors import FeatvizError, InvalidArgumentError
from featviz.targets import GRAMMAR, parse_channels

#: = featviz.loop.DEFAULT_STEPS, repeated so that ``--help`` does not import torch (a test checks).
DEFAULT_STEPS = 384

_MODEL_HELP = (
    "a zoo name (efficientnet_lite0, efficientnet_lite1/2 if installed, torchvision:NAME, "
    "timm:NAME) or a file saved with torch.save(model, PATH)"
)


def _load(spec: str):  # noqa: ANN202 - returns an nn.Module or a zoo name
    """A zoo name stays a name; an existing file is loaded as a whole pickled/TorchScript model."""
    from pathlib import Path

    path = Path(spec)
    if not path.is_file():
        return spec
    import torch
    from torch import nn

    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - try TorchScript next
        try:
            model = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:  # noqa: BLE001
            raise InvalidArgumentError(
                f"could not load a model from {spec!r} ({type(error).__name__}: {error}); save "
                "the whole module with torch.save(model, PATH) or torch.jit.save"
            ) from error
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(
            f"{spec!r} holds a {type(model).__name__}, not an nn.Module; a state dict needs its "
            "architecture: build the model in Python and call featviz.render(model, ...)"
        )
    return model


def _render(args: argparse.Namespace) -> int:
    import featviz

    targets: list[str] = args.target
    channels = parse_channels(args.channels) if args.channels else None
    if channels is not None and len(targets) != 1:
        raise InvalidArgumentError("--channels needs exactly one layer target, e.g. 'blocks.4'")
    target = targets[0] if len(targets) == 1 else targets
    result = featviz.render(
        _load(args.model),
        target,
        channels=channels,
        batch=args.batch,
        seed=args.seed,
        batch_size=args.batch_size,
        **_render_options(args),
    )
    path = result.save(args.output)
    for label, score in zip(result.targets, result.scores.tolist(), strict=True):
        print(f"{label}\tscore {score:.4g}")
    state = " (interrupted)" if result.interrupted else ""
    print(f"wrote {path} ({len(result)} image(s), {result.steps_done} steps{state}, {result.seconds:.1f} s)")
    return 0


def _atlas(args: argparse.Namespace) -> int:
    import featviz

    channels = parse_channels(args.channels) if args.channels else None
    try:
        options = _render_options(args)
        if options["device"] is None:
            del options["device"]  # under torchrun each rank picks its own
        result = featviz.atlas(
            _load(args.model),
            args.layer,
            channels,
            args.output,
            seed=args.seed,
            batch_size=args.batch_size,
            examples=args.examples,
            top_k=args.top_k,
            overwrite=args.overwrite,
            **options,
        )
    except KeyboardInterrupt:
        print(
            f"featviz: interrupted; finished channels are kept in {args.output}; rerun the same "
            "command to resume",
            file=sys.stderr,
        )
        return 130
    if result.index is not None:
        print(f"wrote {len(result.channels)} channels to {result.out_dir}: open {result.index}")
    return 0


def _layers(args: argparse.Namespace) -> int:
    import featviz

    table = featviz.layers(_load(args.model), size=args.size, device=args.device)
    if args.filter:
        table = type(table)(info for info in table if args.filter in info.layer)
    print(table)
    return 0


def _render_options(args: argparse.Namespace) -> dict[str, Any]:
    """The render settings shared by ``render`` and ``atlas``."""
    return {
        "steps": args.steps,
        "size": args.size,
        "param": args.param,
        "transforms": args.transforms,
        "lr": args.lr,
        "precision": args.precision,
        "compile": args.compile,
        "redirect_relu": args.redirect_relu,
        "alpha": args.alpha,
        "device": args.device,
        "progress": not args.quiet,
    }


def _add_render_options(parser: argparse.ArgumentParser, batch_help: str) -> None:
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help=f"optimization steps (default {DEFAULT_STEPS})"
    )
    parser.add_argument("--size", type=_size, help="image size N or HxW (default: model input)")
    parser.add_argument(
        "--param",
        default="fft",
        help="parameterization: fft (default), fft_rgb, pixel, pixel_rgb, maco, laplacian, cppn",
    )
    parser.add_argument(
        "--transforms",
        default="auto",
        help="auto (default: multicrop for --param maco, else wide), wide, standard (Lucid's), "
        "multicrop or none",
    )
    parser.add_argument(
        "--lr", type=float, help="Adam learning rate (default: the parameterization's; 0.025 for fft)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--batch-size", type=int, help=batch_help)
    parser.add_argument("--precision", default="auto", help="auto (bf16 on CUDA), fp32 or bf16")
    parser.add_argument("--compile", action="store_true", help="run the model via torch.compile")
    parser.add_argument("--alpha", action="store_true", help="learn transparency too (RGBA PNGs)")
    parser.add_argument(
        "--no-redirect-relu",
        dest="redirect_relu",
        action="store_false",
        help="turn off ReLU gradient redirection in the first 16 steps",
    )
    parser.add_argument(
        "--device", help="cpu, cuda, cuda:1, ... (default: cpu; under torchrun: one device per rank)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


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
    from featviz import __version__

    parser = argparse.ArgumentParser(
        prog="featviz", description="Feature visualization for PyTorch vision models."
    )
    parser.add_argument("--version", action="version", version=f"featviz {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser(
        "render",
        help="render images that maximize a unit",
        description=f"Render images that maximize a unit. Targets: {GRAMMAR}.",
    )
    render.add_argument("model", help=_MODEL_HELP)
    render.add_argument("target", nargs="+", help="one or more targets, e.g. blocks.4:12")
    render.add_argument(
        "-o",
        "--output",
        default="featviz.png",
        help="image file to write (a grid for several images; default featviz.png)",
    )
    render.add_argument("--channels", help="with one layer target: channels such as 0:8 or 3,7,9")
    render.add_argument("--batch", type=int, help="images per single target (each its own seed)")
    _add_render_options(render, "most images per pass; longer target lists render in chunks")
    render.set_defaults(run=_render)

    atlas = commands.add_parser(
        "atlas",
        help="render every channel of a layer into a folder with a gallery",
        description="Render channels of a layer in batches into a folder: one PNG per channel, "
        "grid.png, index.html and manifest.json. Rerun to resume; works under torchrun.",
    )
    atlas.add_argument("model", help=_MODEL_HELP)
    atlas.add_argument("layer", help="dotted module path, e.g. blocks.4")
    atlas.add_argument("-o", "--output", default="atlas", help="output folder (default atlas)")
    atlas.add_argument("--channels", help="channels such as 0:64 or 3,7,9 (default: all)")
    _add_render_options(atlas, "channels per batch (default 4 on CPU, 64 on CUDA)")
    atlas.add_argument("--examples", help="folder of your images: show top exemplars per channel")
    atlas.add_argument("--top-k", type=int, default=4, help="exemplars per channel (default 4)")
    atlas.add_argument("--overwrite", action="store_true", help="start over if settings changed")
    atlas.set_defaults(run=_atlas)

    layers = commands.add_parser("layers", help="list a model's addressable layers")
    layers.add_argument("model", help=_MODEL_HELP)
    layers.add_argument("--size", type=_size, help="input size N or HxW (default: model input)")
    layers.add_argument("--filter", help="only layers whose path contains this text")
    layers.add_argument("--device", help="cpu, cuda, ... (default cpu)")
    layers.set_defaults(run=_layers)
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
        print("featviz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
