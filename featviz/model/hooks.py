"""Everything that touches the user's model: layer lookup, scoped forward hooks, model hygiene.

featviz promises that a model comes back exactly as it was given: same ``training`` flags, same
``requires_grad`` flags, no leftover hooks, untouched parameters and buffers — also after an
exception or Ctrl-C. :func:`guarded`, :class:`Recorder`, :func:`trace` and :func:`scoped_hooks`
keep that promise; nothing else in featviz registers hooks or changes modes (ReLU redirection
registers its hooks through :func:`scoped_hooks`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import torch
from torch import nn

from featviz.errors import InvalidArgumentError, LayerNotFoundError
from featviz.targets import HEADS, INPUT, OUTPUT


class _StopForward(BaseException):
    """Raised by a hook once every needed activation is recorded, to skip the rest of the model.

    A BaseException, so that a model that catches ``Exception`` internally cannot swallow it.
    """


def find_module(model: nn.Module, layer: str) -> nn.Module:
    """Return the submodule at a dotted path, as spelled by ``model.named_modules()``.

    Raises:
        LayerNotFoundError: no such module; the message suggests close matches and says how to
            list every layer.
    """
    modules = dict(model.named_modules())
    if layer in modules and layer != "":
        return modules[layer]
    names = [name for name in modules if name]
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise LayerNotFoundError(
        f"the model ({type(model).__name__}) has no layer {layer!r}.{hint} Layers are dotted "
        "module paths as in model.named_modules(); list them with featviz.layers(model) or "
        "`featviz layers MODEL`."
    )


def first_tensor(value: object) -> torch.Tensor | None:
    """The tensor a module's output stands for.

    A tensor is itself; a tuple or list stands for its first tensor (torchvision's
    ``MultiheadAttention`` returns ``(output, weights)``); a mapping or an object with a
    ``logits`` field (Hugging Face style outputs) stands for its logits, else for its first
    tensor; anything else holds none (None).
    """
    if isinstance(value, torch.Tensor):
        return value
    logits = value.get("logits") if isinstance(value, dict) else getattr(value, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    items: Iterable[object] = ()
    if isinstance(value, (tuple, list)):
        items = value
    elif isinstance(value, dict):
        items = value.values()
    for item in items:
        found = first_tensor(item)
        if found is not None:
            return found
    return None


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


@contextmanager
def guarded(model: nn.Module) -> Iterator[nn.Module]:
    """Put the model in eval mode with frozen parameters, and restore it exactly afterwards.

    Every module's ``training`` flag and every parameter's ``requires_grad`` flag are saved and
    put back on exit, whether the block ends normally, raises, or is interrupted. Parameters and
    buffers are never written: eval mode keeps BatchNorm statistics fixed, and frozen parameters
    get no ``.grad``.
    """
    training = [(module, module.training) for module in model.modules()]
    requires_grad = [(param, param.requires_grad) for param in model.parameters()]
    try:
        model.eval()
        for param, _ in requires_grad:
            param.requires_grad_(False)
        yield model
    finally:
        for module, flag in training:
            module.training = flag
        for param, flag in requires_grad:
            param.requires_grad_(flag)


@contextmanager
def scoped_hooks(
    modules: Iterable[nn.Module],
    pre_hook: Callable[..., Any] | None = None,
    hook: Callable[..., Any] | None = None,
    prepend: bool = False,
) -> Iterator[None]:
    """Register a forward pre-hook and/or forward hook on each module, for the ``with`` block only.

    Every handle is removed on exit, whatever happens inside the block.
    """
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for module in modules:
            if pre_hook is not None:
                handles.append(module.register_forward_pre_hook(pre_hook, prepend=prepend))
            if hook is not None:
                handles.append(module.register_forward_hook(hook, prepend=prepend))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def captured(
    modules: dict[str, nn.Module], on_capture: Callable[[str, torch.Tensor], None] | None = None
) -> Iterator[dict[str, torch.Tensor]]:
    """The first output tensor of each named module during the forward passes of the ``with``
    block, as the graph holds it (not detached, not copied): the one gradient capture — take
    ``torch.autograd.grad`` of a score with respect to them, or, in ``on_capture(name, tensor)``
    (called as the module returns, before any later in-place op), copy them or register tensor
    hooks on them.

    Example:
        >>> with captured({"layer4": model.layer4}) as outputs:
        ...     loss = model(x).logsumexp(1).sum()
        >>> torch.autograd.grad(loss, outputs["layer4"])
    """
    outputs: dict[str, torch.Tensor] = {}

    def hook_for(name: str):  # noqa: ANN202 - a torch hook signature
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            tensor = first_tensor(output)
            if tensor is not None and name not in outputs:
                outputs[name] = tensor
                if on_capture is not None:
                    on_capture(name, tensor)

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in modules.items()]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def trace(
    model: nn.Module, x: torch.Tensor, until: Iterable[str] | None = None
) -> dict[str, tuple[nn.Module, torch.Tensor | None, torch.Tensor]]:
    """Run ``x`` through the guarded model once, without gradients, and return every named
    module whose output holds a tensor: ``{layer: (module, first input tensor or None, output
    tensor)}`` in the order the modules finished (a module called several times: its first call).

    With ``until``, the pass stops as soon as those layers have produced their outputs.
    """
    seen: dict[str, tuple[nn.Module, torch.Tensor | None, torch.Tensor]] = {}
    started: dict[str, torch.Tensor | None] = {}
    names = {module: name for name, module in model.named_modules() if name}
    wanted = set(until or ())

    def pre_hook(module: nn.Module, inputs: object) -> None:
        started.setdefault(names[module], first_tensor(inputs))

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        tensor = first_tensor(output)
        if tensor is not None and tensor.dim() >= 1:
            seen.setdefault(names[module], (module, started.get(names[module]), tensor))
        if wanted and wanted <= set(seen):
            raise _StopForward

    with guarded(model), scoped_hooks(names, pre_hook, hook), torch.no_grad(), suppress(_StopForward):
        model(x)
    return seen


def attention_heads(model: nn.Module, layer: str) -> tuple[nn.Module, int]:
    """An attention module's output projection and head count (timm's ``Attention``: a ``proj``
    ``nn.Linear`` fed the heads' concatenated outputs, and ``num_heads``).

    Raises:
        LayerNotFoundError: no such layer.
        InvalidArgumentError: the layer is not an attention module featviz can read heads of.
    """
    module = find_module(model, layer)
    projection, count = getattr(module, "proj", None), getattr(module, "num_heads", None)
    if not isinstance(projection, nn.Linear) or not isinstance(count, int) or count < 1:
        raise InvalidArgumentError(
            f"layer {layer!r} ({type(module).__name__}) is not an attention module whose heads featviz "
            "can read: a head target 'L:hN' needs a module with `num_heads` and a `proj` nn.Linear "
            "that takes the heads' concatenated outputs (timm's Attention, e.g. 'blocks.5.attn')"
        )
    return projection, count


class Recorder:
    """Records the outputs of the named layers during a forward pass, via scoped hooks.

    Hooks live only inside the ``with`` block. When the model output is not needed (and
    ``stop_early`` is on), the forward pass stops as soon as every needed layer has produced its
    output, so nothing after the deepest needed layer is computed. ``self.model`` is what runs;
    it may be replaced by a compiled wrapper of the same model.

    Example:
        >>> with Recorder(model, {"layer3", "layer4"}) as recorder:
        ...     acts = recorder.run(x)     # {"layer3": tensor, "layer4": tensor}
    """

    def __init__(self, model: nn.Module, layers: Iterable[str], stop_early: bool = True) -> None:
        layers = set(layers)
        self.model: Callable[..., Any] = model
        self.needs_output = OUTPUT in layers
        self.stop_early = stop_early and not self.needs_output
        self.layers = sorted(layers - {INPUT, OUTPUT})
        self.modules = {
            layer: find_module(model, layer) for layer in self.layers if not layer.endswith(HEADS)
        }
        # Heads of an attention module: the input of its output projection, per head.
        self.heads = {
            layer: attention_heads(model, layer.removesuffix(HEADS))
            for layer in self.layers
            if layer.endswith(HEADS)
        }
        self._acts: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> Recorder:
        for layer, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook_for(layer)))
        for layer, (projection, count) in self.heads.items():
            self._handles.append(projection.register_forward_pre_hook(self._heads_hook_for(layer, count)))
        return self

    def _heads_hook_for(self, layer: str, count: int):  # noqa: ANN202 - a torch hook signature
        def pre_hook(module: nn.Module, inputs: tuple[object, ...]) -> None:
            tensor = first_tensor(inputs)
            if tensor is None or layer in self._acts:
                return
            batch, tokens, width = tensor.shape  # (B, T, heads * head_dim) -> (B, heads, T, head_dim)
            heads = tensor.reshape(batch, tokens, count, width // count).transpose(1, 2)
            self._record(layer, heads)

        return pre_hook

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook_for(self, layer: str):  # noqa: ANN202 - a torch hook signature
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            if layer in self._acts:  # a module called several times: its first call counts
                return
            tensor = first_tensor(output)
            if tensor is None:
                raise InvalidArgumentError(
                    f"layer {layer!r} ({type(module).__name__}) returned "
                    f"{type(output).__name__}, which holds no tensor; choose a layer whose "
                    "output is a tensor (see featviz.layers(model))"
                )
            self._record(layer, tensor)

        return hook

    def _record(self, layer: str, tensor: torch.Tensor) -> None:
        if self.stop_early and len(self._acts) + 1 == len(self.layers):
            self._acts[layer] = tensor
            raise _StopForward
        # The forward pass goes on: copy, so that a later in-place op (ReLU(inplace=True) right
        # after a BatchNorm, say) cannot overwrite what was recorded.
        self._acts[layer] = tensor.clone()

    def run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the model on ``x`` and return ``{layer: activation}`` (plus ``"output"`` if needed).

        Raises:
            InvalidArgumentError: a needed layer did not run during the forward pass.
        """
        self._acts = {}
        output = None
        with suppress(_StopForward):
            output = self.model(x)
        acts, self._acts = self._acts, {}
        missing = [layer for layer in self.layers if layer not in acts]
        if missing:
            raise InvalidArgumentError(
                f"layer(s) {missing} did not run during the model's forward pass, so they "
                "cannot be visualized; pick layers that are used by forward() "
                "(featviz.layers(model) lists the ones that run)"
            )
        if self.needs_output:
            tensor = first_tensor(output)
            if tensor is None:
                raise InvalidArgumentError(
                    f"the model returned {type(output).__name__}, which holds no tensor, so "
                    "'output' targets cannot be used; target a layer instead"
                )
            acts[OUTPUT] = tensor
        return acts
