"""Hooks: layer lookup, recording, early stop, scoped hooks and model hygiene."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_untouched, snapshot

from featviz.errors import InvalidArgumentError, LayerNotFoundError
from featviz.model.hooks import (
    Recorder,
    find_module,
    first_tensor,
    guarded,
    model_device,
    scoped_hooks,
    trace,
)


def test_find_module_suggests_close_names(tiny) -> None:
    assert find_module(tiny, "conv2") is tiny.conv2
    with pytest.raises(LayerNotFoundError, match="'conv2'") as info:
        find_module(tiny, "conv_2")
    assert "featviz.layers(model)" in str(info.value) and isinstance(info.value, KeyError)
    with pytest.raises(LayerNotFoundError):
        find_module(tiny, "")  # the root is not a layer


def test_guarded_restores_modes_and_flags_after_an_error(tiny) -> None:
    tiny.train()
    tiny.fc.requires_grad_(False)
    before = snapshot(tiny)
    with pytest.raises(RuntimeError), guarded(tiny):
        assert not tiny.training and not any(p.requires_grad for p in tiny.parameters())
        raise RuntimeError("boom")
    assert_untouched(tiny, before)


def test_recorder_records_and_stops_after_the_deepest_layer(tiny) -> None:
    seen = []
    handle = tiny.fc.register_forward_hook(lambda *args: seen.append("fc"))
    x = torch.rand(2, 3, 32, 32)
    with guarded(tiny), Recorder(tiny, {"conv1", "conv3"}) as recorder:
        acts = recorder.run(x)
    handle.remove()
    assert set(acts) == {"conv1", "conv3"} and acts["conv3"].shape == (2, 16, 16, 16)
    assert seen == []  # nothing after conv3 ran
    assert all(not m._forward_hooks for m in tiny.modules())


def test_recorder_with_output_runs_the_whole_model(tiny) -> None:
    with guarded(tiny), Recorder(tiny, {"conv1", "output"}) as recorder:
        acts = recorder.run(torch.rand(1, 3, 32, 32))
    assert acts["output"].shape == (1, 10)


def test_a_layer_that_never_runs_is_a_featviz_error(tiny) -> None:
    tiny.unused = torch.nn.Linear(2, 2)
    with pytest.raises(InvalidArgumentError, match="did not run"), Recorder(tiny, {"unused"}) as recorder:
        recorder.run(torch.rand(1, 3, 32, 32))


def test_scoped_hooks_are_removed_on_exit_and_on_error(tiny) -> None:
    calls = []
    with pytest.raises(ValueError), scoped_hooks([tiny.conv1, tiny.conv2], hook=lambda *a: calls.append(1)):
        tiny(torch.rand(1, 3, 32, 32))
        assert len(calls) == 2
        raise ValueError
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in tiny.modules())


def test_trace_lists_outputs_in_execution_order(tiny) -> None:
    outputs = trace(tiny, torch.rand(1, 3, 32, 32))
    assert list(outputs)[:3] == ["conv1", "relu1", "conv2"]
    module, source, output = outputs["fc"]
    assert module is tiny.fc and source.shape == (1, 16) and output.shape == (1, 10)
    assert list(trace(tiny, torch.rand(1, 3, 32, 32), until={"conv2"})) == ["conv1", "relu1", "conv2"]
    assert all(not m._forward_hooks for m in tiny.modules())


def test_first_tensor_and_model_device(tiny) -> None:
    t = torch.zeros(1)
    assert first_tensor(t) is t and first_tensor((1, [None, {"a": t}])) is t and first_tensor("x") is None
    assert model_device(tiny) == torch.device("cpu") and model_device(torch.nn.ReLU()) == torch.device("cpu")


def test_outputs_that_are_not_tensors_have_a_defined_meaning() -> None:
    from dataclasses import dataclass

    @dataclass
    class Output:  # Hugging Face style
        hidden: torch.Tensor
        logits: torch.Tensor

    a, b = torch.zeros(1), torch.ones(1)
    assert first_tensor((a, b)) is a and first_tensor([None, b]) is b
    assert first_tensor({"hidden": a, "logits": b}) is b and first_tensor({"x": a}) is a
    assert first_tensor(Output(a, b)) is b and first_tensor(object()) is None

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> Output:
            h = self.conv(x)
            return Output(h, h.mean((2, 3)))

    import featviz

    result = featviz.render(Classifier(), "output:2", steps=3, size=16, progress=False)
    assert result.history[-1, 0] > result.history[0, 0]  # "output" is the logits
