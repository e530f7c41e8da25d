"""Render options: every setting of a render, its default and its help text, in one table.

This is the single home of the render defaults. :func:`featviz.render` takes these names as
keywords (its signature and the ``Args`` of its docstring are built from :data:`OPTIONS`), the
command line builds its flags, defaults and ``--help`` from it, :func:`featviz.atlas` passes them
on, and an atlas manifest records the ones that differ from :data:`DEFAULTS`. Adding an option
means one row here, one resolver in :mod:`featviz.rendering`, and its use.

The module imports nothing heavy (no torch), so ``featviz --help`` stays fast.

Example:
    >>> from featviz.options import DEFAULTS
    >>> DEFAULTS.steps
    384
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field, make_dataclass, replace
from typing import Any

from featviz.errors import InvalidArgumentError

#: ``redirect_relu=True`` redirects ReLU gradients for this many first steps (featviz.redirect).
REDIRECT_STEPS = 16
#: With ``alpha=True``, full opacity costs this share of the score (featviz.param.AlphaImage).
ALPHA_PENALTY = 0.3
# When the default pictures last changed (2026-11-27: FourierImage holds a natural contrast); atlases
# record it, so a resume never mixes pictures made with two different defaults.
PICTURE_DEFAULTS = "2026-11-27"
# The default weight of the diversity term between several renders of one target.
DIVERSITY = 0.5

# featviz.explain's defaults (the command line shows the same): about 40 renders per layer, so
# each is shorter and smaller than a unit render; the model still sees its own input size (fed as
# they are, resize=False, they are 2.3x cheaper but score lower: benchmarks/RESULTS.md).
EXPLAIN_LAYERS = 5  # block outputs spread over the depth
EXPLAIN_GRID = 5  # most activation-grid cells per side
EXPLAIN_GROUPS = 6  # neuron groups (NMF factors) per layer
EXPLAIN_TOP = 4  # channels per layer in the dictionary and the attribution
EXPLAIN_STEPS = 128
EXPLAIN_SIZE = 128

# featviz.activation_atlas's defaults: cells per side and the most activation vectors laid out;
# each cell renders at EXPLAIN_STEPS / EXPLAIN_SIZE.
ACTIVATION_ATLAS_GRID = 20
ACTIVATION_ATLAS_VECTORS = 100_000

# featviz.concepts's defaults: the most activation vectors learned from, the concepts shown (and
# rendered, at EXPLAIN_STEPS / EXPLAIN_SIZE), and the sparse autoencoder's active latents per
# vector (TopK's K) and passes over the vectors.
CONCEPT_VECTORS = 100_000
CONCEPTS_SHOWN = 12
SAE_ACTIVE = 16
SAE_EPOCHS = 30


@dataclass(frozen=True)
class Option:
    """One render option.

    Attributes:
        name: the keyword of :func:`featviz.render` (the CLI flag is ``--name`` with dashes).
        default: its default value.
        help: what it means, one or two sentences; shown by the docstring and ``--help``.
        kind: the annotation shown in the signature.
        cli: whether the command line has a flag for it.
    """

    name: str
    default: Any
    help: str
    kind: str
    cli: bool = True


OPTIONS: tuple[Option, ...] = (
    Option("steps", 384, "optimization steps.", "int"),
    Option(
        "size",
        None,
        "image size, N or (height, width); default: the model's input size (224 when unknown). "
        "The image is resized to the model's input size before each forward pass (see resize).",
        "int | tuple[int, int] | None",
    ),
    Option(
        "resize",
        True,
        "resize each image to the model's input size before every forward pass; False feeds it "
        "at its own size (models that take any size: a smaller image is then cheaper, and the "
        "model sees its features at the scale it learned them).",
        "bool",
    ),
    Option(
        "param",
        "fft",
        "image parameterization: fft (1/f^1.25 Fourier, decorrelated colour), fft_rgb, pixel, "
        "pixel_rgb, maco, laplacian, cppn, or a featviz.param.ImageParam instance.",
        "str | ImageParam",
    ),
    Option(
        "transforms",
        "auto",
        "robustness transforms: auto (multicrop for maco, standard for cppn, else wide), wide, "
        "standard (Lucid's), multicrop, none, or a list of featviz.transforms objects / callables.",
        "str | Sequence[Transform | Callable] | None",
    ),
    Option(
        "preprocess",
        None,
        "the model's input normalization (featviz.model.preprocess): default from the model's "
        "metadata, else ImageNet mean/std.",
        "Preprocess | Mapping | str | Callable | None",
        cli=False,
    ),
    Option(
        "layouts",
        None,
        "the layout of layers featviz cannot decide by itself, e.g. {'layers.0': 'nhwc'} "
        "(nchw, nhwc, tokens, vector; featviz.model.layouts); on the command line layers.0=nhwc,...",
        "Mapping[str, str] | None",
    ),
    Option(
        "lr",
        None,
        "Adam learning rate; default: the parameterization's own (0.025 for fft).",
        "float | None",
    ),
    Option(
        "optimizer",
        None,
        "a function params -> torch.optim.Optimizer used instead of Adam(lr).",
        "Callable | None",
        cli=False,
    ),
    Option(
        "seed",
        0,
        "an int, or one int per image; the same seed on the same device gives the same image, "
        "whatever else is in the batch.",
        "int | Sequence[int]",
    ),
    Option(
        "thresholds",
        (),
        "steps at which to keep snapshots of the images (result.snapshots).",
        "Iterable[int]",
        cli=False,
    ),
    Option(
        "device",
        None,
        "where to run: cpu, cuda, cuda:1, mps. Default: a model object's own device; for a zoo "
        "name (and on the command line) the GPU when there is one (CUDA, then Apple MPS), "
        "else the CPU. A model on another device is copied there; the original is not moved.",
        "torch.device | str | None",
    ),
    Option(
        "batch_size",
        None,
        "most images optimized together; longer target lists render in chunks. Default: on "
        "the CPU the fastest of 1, 2, 4 measured once per model, layer and size on this machine "
        "(featviz.rendering.batching), on CUDA from free memory. An out-of-memory error halves the chunk.",
        "int | None",
    ),
    Option(
        "precision",
        "auto",
        "auto (bf16 autocast on CUDA where supported, else fp32), fp32 or bf16; scores, "
        "gradients and image parameters stay fp32.",
        "str",
    ),
    Option(
        "channels_last",
        True,
        "feed the model channels-last images: convolutions run faster that way on CUDA and on "
        "CPUs (benchmarks/channels_last.py); False for channels-first.",
        "bool",
        cli=False,
    ),
    Option(
        "compile",
        False,
        "run the model through torch.compile (the whole model runs: no early stop); worth it "
        "on GPUs for long renders.",
        "bool",
    ),
    Option(
        "redirect_relu",
        True,
        f"Lucid's ReLU gradient redirection in the first steps (featviz.redirect): True = the "
        f"first {REDIRECT_STEPS} steps, an int = that many, False = never.",
        "bool | int",
    ),
    Option(
        "init",
        None,
        "start from an image instead of noise: a file path, PIL image or (3, H, W) / "
        "(B, 3, H, W) tensor in [0, 1]; fft and pixel reproduce it exactly, maco keeps its phase.",
        "object",
        cli=False,
    ),
    Option(
        "alpha",
        False,
        f"also learn transparency: images become RGBA, composited over a random colour each "
        f"step, and full opacity costs {ALPHA_PENALTY:g} of the score.",
        "bool",
    ),
    Option(
        "renders",
        1,
        "renders per target, each from its own seed; with more than one, the diversity term keeps "
        "them apart (a single target's batch= does the same).",
        "int",
    ),
    Option(
        "diversity",
        DIVERSITY,
        "weight of the diversity term when a target has several renders: each image loses this "
        "share of its score times its mean similarity (cosine of activation Gram matrices at the "
        "target's layer) to the other renders of its target; 0 = independent renders.",
        "float",
    ),
    Option("progress", True, "show a tqdm progress bar.", "bool", cli=False),
)

_BY_NAME = {option.name: option for option in OPTIONS}


#: The options as values: ``RenderOptions(steps=64)``; fields, defaults and order come from
#: :data:`OPTIONS`, so the two cannot drift apart.
RenderOptions: Any = make_dataclass(
    "RenderOptions",
    [(option.name, Any, field(default=option.default)) for option in OPTIONS],
    frozen=True,
)
RenderOptions.__doc__ = "The render options as values; ``RenderOptions()`` holds the defaults."
RenderOptions.__module__ = __name__

DEFAULTS = RenderOptions()


def from_keywords(keywords: Mapping[str, Any], where: str = "render") -> Any:  # noqa: ANN401 - RenderOptions
    """The options given as keywords, defaults for the rest.

    Raises:
        InvalidArgumentError: a keyword that is not an option (close matches are suggested).
    """
    unknown = [name for name in keywords if name not in _BY_NAME]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(_BY_NAME), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InvalidArgumentError(
            f"{where}() got an unknown option {name!r}.{hint} The options are: {', '.join(_BY_NAME)}."
        )
    return replace(DEFAULTS, **keywords)


def changed(keywords: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords whose values differ from the defaults (spelling a default out is no change)."""
    return {k: v for k, v in keywords.items() if k not in _BY_NAME or not _is_default(_BY_NAME[k], v)}


def describe(value: object) -> str:
    """Stable text for a setting (for records such as an atlas manifest): functions by their
    qualified name, not by ``repr`` (which holds a memory address that changes every run)."""
    if callable(value) and hasattr(value, "__qualname__") and not isinstance(value, type):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return repr(value)


def _is_default(option: Option, value: object) -> bool:
    default = option.default
    return value is default or (type(value) is type(default) and value == default)


def shows_default(option: Option) -> bool:
    """Whether a help line should add ``(default: ...)``: not when the text already says it."""
    return option.default is not None and "default" not in option.help.lower()


def docstring_args() -> str:
    """The ``Args`` lines of the options, for the docstrings of the functions that take them."""
    lines = []
    for option in OPTIONS:
        default = f" Default: {option.default!r}." if shows_default(option) else ""
        lines.append(
            textwrap.fill(
                f"{option.name}: {option.help}{default}",
                width=100,
                initial_indent=" " * 8,
                subsequent_indent=" " * 12,
            )
        )
    return "\n".join(lines)
