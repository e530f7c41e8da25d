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
from featviz.version import __version__

_LAZY = {
    "render": "featviz.rendering.run",
    "RenderResult": "featviz.rendering.result",
    "prepare": "featviz.model.prepared",
    "Prepared": "featviz.model.prepared",
    "layers": "featviz.model.prepared",
    "LayerInfo": "featviz.model.prepared",
    "load_model": "featviz.model.zoo",
    "Preprocess": "featviz.model.preprocess",
    "caricature": "featviz.rendering.photo",
    "accentuate": "featviz.rendering.photo",
    "atlas": "featviz.reports.atlases.neuron",
    "AtlasResult": "featviz.reports.atlases.neuron",
    "activation_atlas": "featviz.reports.atlases.activation",
    "ActivationAtlas": "featviz.reports.atlases.activation",
    "microscope": "featviz.reports.atlases.microscope",
    "MicroscopeResult": "featviz.reports.atlases.microscope",
    "explain": "featviz.reports.explanation.report",
    "Explanation": "featviz.reports.explanation.report",
    "diagnose": "featviz.reports.diagnosis.report",
    "Diagnosis": "featviz.reports.diagnosis.report",
    "concepts": "featviz.reports.concepts.report",
    "Concepts": "featviz.reports.concepts.report",
    "load_dictionary": "featviz.reports.concepts.report",
}
# The documented toolbox modules, by their short names (``featviz.param.FourierImage``).
_SUBMODULES = {
    "objectives": "featviz.rendering.objectives",
    "param": "featviz.rendering.param",
    "transforms": "featviz.rendering.transforms",
    "metrics": "featviz.analysis.metrics",
    "natural": "featviz.analysis.natural",
    "options": "featviz.options",
    "imaging": "featviz.imaging",
    "files": "featviz.files",
    "errors": "featviz.errors",
    "targets": "featviz.targets",
    "rng": "featviz.rng",
    "cli": "featviz.cli",
    "model": "featviz.model",
    "rendering": "featviz.rendering",
    "analysis": "featviz.analysis",
    "reports": "featviz.reports",
}

if TYPE_CHECKING:  # pragma: no cover
    from featviz.analysis import metrics, natural  # noqa: F401
    from featviz.model.prepared import LayerInfo, Prepared, layers, prepare  # noqa: F401
    from featviz.model.preprocess import Preprocess  # noqa: F401
    from featviz.model.zoo import load_model  # noqa: F401
    from featviz.rendering import objectives, param, transforms  # noqa: F401
    from featviz.rendering.photo import accentuate, caricature  # noqa: F401
    from featviz.rendering.result import RenderResult  # noqa: F401
    from featviz.rendering.run import render  # noqa: F401
    from featviz.reports.atlases.activation import ActivationAtlas, activation_atlas  # noqa: F401
    from featviz.reports.atlases.microscope import MicroscopeResult, microscope  # noqa: F401
    from featviz.reports.atlases.neuron import AtlasResult, atlas  # noqa: F401
    from featviz.reports.diagnosis.report import (
        Diagnosis,  # noqa: F401
        diagnose,  # noqa: F401
    )
    from featviz.reports.explanation.report import (
        Explanation,  # noqa: F401
        explain,  # noqa: F401
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
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
