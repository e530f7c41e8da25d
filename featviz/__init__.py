"""featviz: feature visualization for PyTorch vision models.

Render what a neuron, channel, layer or class of a network responds to::

    import featviz
    result = featviz.render("efficientnet_lite0", "blocks.4:12")
    result.save("blocks4_12.png")
    print(featviz.layers("efficientnet_lite0"))

Public names are imported on first use, so ``import featviz`` (and the CLI's ``--help``) stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from featviz.errors import (
    ChannelOutOfRangeError,
    FeatvizError,
    InvalidArgumentError,
    LayerNotFoundError,
    ModelLoadError,
    NonFiniteError,
    TargetSyntaxError,
)
from featviz.targets import Target, parse_target

__version__ = "0.1.0"

_LAZY = {
    "render": "featviz.loop",
    "RenderResult": "featviz.result",
    "layers": "featviz.layer_table",
    "LayerInfo": "featviz.layer_table",
    "load_model": "featviz.zoo",
    "Preprocess": "featviz.preprocess",
    "atlas": "featviz.neuron_atlas",
    "AtlasResult": "featviz.neuron_atlas",
    "caricature": "featviz.seeded",
    "accentuate": "featviz.seeded",
}
_SUBMODULES = {
    "metrics",
    "loop",
    "layer_table",
    "neuron_atlas",
    "gallery",
    "exemplars",
    "objectives",
    "param",
    "transforms",
    "hooks",
    "io",
    "zoo",
    "preprocess",
    "rng",
    "targets",
    "errors",
    "result",
    "cli",
    "redirect",
    "seeded",
}

if TYPE_CHECKING:  # pragma: no cover
    from featviz import objectives, param, transforms  # noqa: F401
    from featviz.layer_table import LayerInfo, layers  # noqa: F401
    from featviz.loop import render  # noqa: F401
    from featviz.neuron_atlas import AtlasResult, atlas  # noqa: F401
    from featviz.preprocess import Preprocess  # noqa: F401
    from featviz.result import RenderResult  # noqa: F401
    from featviz.seeded import accentuate, caricature  # noqa: F401
    from featviz.zoo import load_model  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"featviz.{name}")
    raise AttributeError(f"module 'featviz' has no attribute {name!r}")


__all__ = [
    "render",
    "RenderResult",
    "atlas",
    "AtlasResult",
    "caricature",
    "accentuate",
    "layers",
    "LayerInfo",
    "load_model",
    "Preprocess",
    "Target",
    "parse_target",
    "objectives",
    "param",
    "transforms",
    "FeatvizError",
    "TargetSyntaxError",
    "LayerNotFoundError",
    "ChannelOutOfRangeError",
    "InvalidArgumentError",
    "ModelLoadError",
    "NonFiniteError",
    "__version__",
]
