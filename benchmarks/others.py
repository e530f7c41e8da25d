"""Render featviz targets with other libraries (Lucent, faccent) under their own defaults.

Used by the benchmarks for side-by-side rows; neither library is a featviz dependency. Install each
into its own folder and pass that folder:

    pip install --no-deps --target /tmp/lucent_pkg torch-lucent==0.1.8 decorator
    pip install --no-deps --target /tmp/faccent_pkg faccent==1.0.3
    pip install --target /tmp/faccent_deps einops matplotlib ipywidgets imageio decorator

Both receive the model wrapped so that it takes [0, 1] images (ImageNet normalisation inside), so
each library's own preprocessing is the identity and every tool sees the same network. Targets use
featviz's spelling (``blocks.4:12``, ``output:285``) and are translated to each library's layer names.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
import types
from collections.abc import Callable

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalized(nn.Module):
    """``model`` preceded by ImageNet normalisation; exposes the attributes faccent reads."""

    model_input_size = (224, 224)
    model_input_range = (0.0, 1.0)

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.net = model
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def _layer_name(target: str, output_layer: str) -> tuple[str, int]:
    """featviz target -> (``net_``-prefixed, underscore-joined module name, channel)."""
    layer, channel = target.split(":")
    if layer == "output":
        layer = output_layer
    return "net_" + layer.replace(".", "_"), int(channel)


def _add_paths(paths: list[str]) -> None:
    """First folder in front of sys.path (the library), the rest behind (its extra dependencies)."""
    if paths[0] not in sys.path:
        sys.path.insert(0, paths[0])
    for extra in paths[1:]:
        if extra not in sys.path:
            sys.path.append(extra)


def _patch_kornia_and_ipython() -> None:
    """Lucent 0.1.8 calls kornia functions from their pre-0.5 place and imports IPython."""
    import kornia
    import kornia.geometry.transform as kgt

    kornia.get_rotation_matrix2d = kgt.get_rotation_matrix2d
    kornia.warp_affine = kgt.warp_affine
    if "IPython" not in sys.modules:
        ipython = types.ModuleType("IPython")
        display = types.ModuleType("IPython.display")
        display.display = display.HTML = display.Image = lambda *a, **k: None
        ipython.display = display
        ipython.featviz_stub = True
        sys.modules["IPython"], sys.modules["IPython.display"] = ipython, display


def _render_each(
    model: nn.Module,
    targets: list[str],
    output_layer: str,
    render_one: Callable[[nn.Module, str], torch.Tensor],
) -> tuple[torch.Tensor, float]:
    """``render_one(wrapped_model, "layer:channel")`` for each target (global seed = its index);
    returns the images stacked and the total seconds."""
    wrapped = Normalized(model).to(next(model.parameters()).device).eval()
    images = []
    start = time.perf_counter()
    for index, target in enumerate(targets):
        layer, channel = _layer_name(target, output_layer)
        torch.manual_seed(index)  # both libraries draw from the global generator
        images.append(render_one(wrapped, f"{layer}:{channel}").float())
    return torch.cat(images), time.perf_counter() - start


def lucent(
    paths: list[str], model: nn.Module, targets: list[str], output_layer: str, steps: int = 512
) -> tuple[torch.Tensor, float]:
    """Lucent ``render_vis`` defaults (FFT + decorrelated, 128 px, standard transforms, Adam 0.05,
    512 steps), one target at a time. Returns (N x 3 x 128 x 128 images in [0, 1], seconds)."""
    _add_paths(paths)
    _patch_kornia_and_ipython()
    from lucent.optvis import render

    def one(wrapped: nn.Module, objective: str) -> torch.Tensor:
        out = render.render_vis(
            wrapped, objective, thresholds=(steps,), preprocess=False, show_image=False, progress=False
        )
        return torch.tensor(out[-1]).permute(0, 3, 1, 2)

    return _render_each(model, targets, output_layer, one)


def faccent(
    paths: list[str], model: nn.Module, targets: list[str], output_layer: str
) -> tuple[torch.Tensor, float]:
    """faccent ``render_vis`` defaults (FFT + decorrelated on a 512 px canvas, 16 random box crops
    with noise resized to 224 px per step, Adam 0.05, 99 steps), one target at a time.
    Returns (N x 3 x 512 x 512 images in [0, 1], seconds)."""
    _add_paths(paths)
    if getattr(sys.modules.get("IPython"), "featviz_stub", False):  # faccent needs the real IPython
        del sys.modules["IPython"], sys.modules["IPython.display"]
    from faccent import render

    def one(wrapped: nn.Module, objective: str) -> torch.Tensor:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints which defaults it chose
            out = render.render_vis(wrapped, objective, inline_thresholds=[], progress=False)
        return out[0][-1].clamp(0, 1)

    return _render_each(model, targets, output_layer, one)
