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
    AtlasSettingsError,
    ChannelOutOfRangeError,
    DeviceError,
    FeatvizError,
    FolderBusyError,
    InvalidArgumentError,
    LayerNotFoundError,
    LayoutError,
    ModelLoadError,
    NonFiniteError,
    TargetSyntaxError,
    WriteError,
)
from featviz.targets import Target, parse_target

__version__ = "0.2.0"

_LAZY = {
    "render": "featviz.rendering",
    "RenderResult": "featviz.result",
    "prepare": "featviz.prepared",
    "Prepared": "featviz.prepared",
    "layers": "featviz.prepared",
    "LayerInfo": "featviz.prepared",
    "load_model": "featviz.zoo",
    "Preprocess": "featviz.preprocess",
    "atlas": "featviz.neuron_atlas",
    "AtlasResult": "featviz.neuron_atlas",
    "caricature": "featviz.photo",
    "accentuate": "featviz.photo",
    "explain": "featviz.explanation",
    "Explanation": "featviz.explanation",
    "diagnose": "featviz.diagnosis",
    "microscope": "featviz.microscopes",
    "activation_atlas": "featviz.activation_atlases",
    "ActivationAtlas": "featviz.activation_atlases",
    "MicroscopeResult": "featviz.microscopes",
    "Diagnosis": "featviz.diagnosis",
}
_SUBMODULES = {
    "activation_atlases",
    "activation_atlas_page",
    "batching",
    "charts",
    "cli",
    "diagnosis",
    "diagnosis_page",
    "errors",
    "exemplars",
    "explanation",
    "explain_page",
    "gallery",
    "hooks",
    "html",
    "io",
    "layouts",
    "metrics",
    "natural",
    "microscopes",
    "microscope_page",
    "neuron_atlas",
    "objectives",
    "optimize",
    "options",
    "param",
    "photo",
    "prepared",
    "preprocess",
    "redirect",
    "render_cache",
    "rendering",
    "result",
    "rng",
    "targets",
    "transforms",
    "zoo",
}

if TYPE_CHECKING:  # pragma: no cover
    from featviz import objectives, param, transforms  # noqa: F401
    from featviz.activation_atlases import ActivationAtlas, activation_atlas  # noqa: F401
    from featviz.diagnosis import Diagnosis, diagnose  # noqa: F401
    from featviz.explanation import Explanation, explain  # noqa: F401
    from featviz.microscopes import MicroscopeResult, microscope  # noqa: F401
    from featviz.neuron_atlas import AtlasResult, atlas  # noqa: F401
    from featviz.photo import accentuate, caricature  # noqa: F401
    from featviz.prepared import LayerInfo, Prepared, layers, prepare  # noqa: F401
    from featviz.preprocess import Preprocess  # noqa: F401
    from featviz.rendering import render  # noqa: F401
    from featviz.result import RenderResult  # noqa: F401
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
    "prepare",
    "Prepared",
    "atlas",
    "AtlasResult",
    "caricature",
    "accentuate",
    "explain",
    "Explanation",
    "diagnose",
    "Diagnosis",
    "microscope",
    "MicroscopeResult",
    "activation_atlas",
    "ActivationAtlas",
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
    "FolderBusyError",
    "TargetSyntaxError",
    "LayerNotFoundError",
    "ChannelOutOfRangeError",
    "InvalidArgumentError",
    "DeviceError",
    "LayoutError",
    "AtlasSettingsError",
    "ModelLoadError",
    "NonFiniteError",
    "WriteError",
    "__version__",
]
