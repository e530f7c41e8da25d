"""The speed machinery: chunking, out-of-memory fallback, precision, channels-last, compile.

These tests assert behaviour (same pictures, every target covered), never wall time; speed is
measured by benchmarks/speed.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import TinyCNN

import featviz
from featviz.rendering.batching import choose_batch_size

PACKAGE = str(Path(featviz.__file__).resolve().parent) + "/"

FAST = {"steps": 6, "size": 32, "progress": False}
TARGETS = ["conv3:0", "conv3:1", "conv2:4", "output:3", "conv3:5"]


def test_chunks_cover_every_target_and_change_no_picture(tiny) -> None:
    whole = featviz.render(tiny, TARGETS, **FAST)
    chunked = featviz.render(tiny, TARGETS, batch_size=2, **FAST)
    assert chunked.targets == TARGETS and chunked.images.shape[0] == len(TARGETS)
    assert chunked.settings["batch_size"] == 2
    assert torch.allclose(whole.images, chunked.images, atol=1e-5)
    assert torch.allclose(whole.scores, chunked.scores, atol=1e-4)
    assert chunked.history.shape == (6, len(TARGETS))


def test_default_cpu_batch_size_covers_every_channel(tiny) -> None:
    result = featviz.render(tiny, "conv3", channels=range(10), **FAST)
    assert 1 <= result.settings["batch_size"] <= 10
    assert result.images.shape[0] == 10 and result.targets == [f"conv3:{c}" for c in range(10)]


class OutOfMemoryAbove2(TinyCNN):
    """Raises the error CUDA raises when a batch of more than 2 images does not fit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. (simulated by the test)")
        return super().forward(x)


def test_out_of_memory_halves_the_chunk_and_carries_on() -> None:
    torch.manual_seed(0)
    model = OutOfMemoryAbove2().eval()
    with pytest.warns(UserWarning, match="batch_size=2"):
        result = featviz.render(model, TARGETS, batch_size=8, **FAST)
    assert result.targets == TARGETS and result.settings["batch_size"] == 2
    assert all(not m._forward_hooks for m in model.modules())
    reference = featviz.render(model, TARGETS, batch_size=2, **FAST)
    assert torch.allclose(result.images, reference.images)


def test_out_of_memory_at_batch_one_is_raised() -> None:
    class AlwaysOOM(TinyCNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise torch.OutOfMemoryError("CUDA out of memory. (simulated)")

    with pytest.raises(torch.OutOfMemoryError), pytest.warns(UserWarning):
        featviz.render(AlwaysOOM(), TARGETS[:2], batch_size=2, **FAST)


def test_interrupt_in_a_later_chunk_keeps_the_finished_ones(tiny) -> None:
    steps = {"n": 0}

    def stop_in_second_chunk(module, inputs, output):
        if torch.is_grad_enabled():  # an optimization step (the checks run without gradients)
            steps["n"] += 1
            if steps["n"] == FAST["steps"] + 3:  # the third step of the second chunk
                raise KeyboardInterrupt

    handle = tiny.conv1.register_forward_hook(stop_in_second_chunk)
    result = featviz.render(tiny, TARGETS, batch_size=2, **FAST)
    handle.remove()
    assert result.interrupted and result.targets == TARGETS[:4]
    assert result.steps_done == 2
    assert torch.isnan(result.history[2:, 2:]).all() and not torch.isnan(result.history[:, :2]).any()


def test_bf16_and_channels_last_match_fp32(tiny) -> None:
    fp32 = featviz.render(tiny, TARGETS, precision="fp32", **FAST)
    bf16 = featviz.render(tiny, TARGETS, precision="bf16", **FAST)
    assert bf16.settings["precision"] == "bf16" and bf16.images.dtype == torch.float32
    # Adam normalizes each gradient entry, so bf16 rounding moves pixels a little; scores agree.
    assert (fp32.images - bf16.images).abs().mean() < 0.05
    assert torch.allclose(fp32.scores, bf16.scores, rtol=0.05, atol=0.01)
    first = featviz.render(tiny, TARGETS, channels_last=False, **FAST)
    assert fp32.settings["channels_last"] is True and first.settings["channels_last"] is False
    assert torch.allclose(fp32.images, first.images, atol=1e-4)  # the layout changes no picture
    assert featviz.render(tiny, "conv3:1", **FAST).settings["precision"] == "fp32"  # auto on CPU
    with pytest.raises(featviz.InvalidArgumentError, match="precision"):
        featviz.render(tiny, "conv3:1", precision="fp8", **FAST)


class ViewFlatten(torch.nn.Module):
    """A LeNet-style model that flattens its feature map with ``.view()``, which a channels-last
    map cannot take (the tutorials' way of writing a classifier)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 4)
        return self.fc(x.view(x.shape[0], -1))


def test_a_model_that_cannot_take_channels_last_is_fed_channels_first() -> None:
    torch.manual_seed(0)
    model = ViewFlatten()
    laid_out = torch.zeros(1, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match="view"):
        model(laid_out)  # what the default layout would hit
    default = featviz.render(model, ["output:1", "conv:2"], **FAST)
    first = featviz.render(model, ["output:1", "conv:2"], channels_last=False, **FAST)
    assert torch.allclose(default.images, first.images, atol=1e-4)
    assert torch.allclose(default.scores, first.scores, atol=1e-4)


def test_compile_matches_eager(tiny) -> None:
    eager = featviz.render(tiny, ["conv2:1", "conv3:2"], **FAST)
    compiled = featviz.render(tiny, ["conv2:1", "conv3:2"], compile=True, **FAST)
    assert compiled.settings["compile"] is True
    assert torch.allclose(eager.images, compiled.images, atol=1e-4)
    assert all(not m._forward_hooks for m in tiny.modules())


def test_no_host_sync_calls_in_the_step(tiny, monkeypatch) -> None:
    calls = {"item": 0}
    original = torch.Tensor.item

    def counting_item(self):
        # Count featviz's own calls; torch's Adam reads its CPU step counter with .item().
        if str(Path(sys._getframe(1).f_code.co_filename).resolve()).startswith(PACKAGE):
            calls["item"] += 1
        return original(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    featviz.render(tiny, TARGETS, **{**FAST, "steps": 20})
    assert calls["item"] == 0
    featviz.render(tiny, TARGETS, thresholds=(10, 20), batch_size=8, **{**FAST, "steps": 20})
    assert calls["item"] == 2  # one progress-bar score per threshold


@pytest.mark.parametrize(
    ("free", "per_image", "n", "expected"),
    [(8 * 2**30, 40 * 2**20, 1000, 128), (2**30, 2**31, 10, 1), (2**40, 1, 10, 10), (2**40, 1, 999, 256)],
)
def test_choose_batch_size(free, per_image, n, expected) -> None:
    assert choose_batch_size(free, per_image, n) == expected


def _fake_optimize(seconds_per_image_step: dict[int, float]):
    """An optimize() whose loop time follows a given cost per image-step for each batch size."""
    from featviz.rendering.result import RenderResult

    def optimize(plan, rows, bar):
        n = rows.stop - rows.start
        return RenderResult(
            images=torch.zeros(n, 3, 2, 2),
            scores=torch.zeros(n),
            history=torch.zeros(plan.steps, n),
            targets=["x"] * n,
            objective="x",
            settings={},
            steps_done=plan.steps,
            seconds=plan.steps * n * seconds_per_image_step[n],
        )

    return optimize


@pytest.mark.parametrize(
    ("costs", "expected"),
    [
        ({1: 1.0, 2: 0.8, 4: 0.6}, 4),  # larger batches clearly faster per image-step
        ({1: 1.0, 2: 1.2, 4: 1.5}, 1),  # larger batches slower: never worse than batch 1
        ({1: 1.0, 2: 0.98, 4: 0.97}, 1),  # within measurement noise: keep batch 1
        ({1: 1.0, 2: 0.7, 4: 0.9}, 2),
    ],
)
def test_the_cpu_batch_is_the_measured_fastest_and_is_cached(
    tiny, monkeypatch, tmp_path, costs, expected
) -> None:
    from featviz.rendering import batching, optimize

    monkeypatch.setenv("FEATVIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(batching, "_measured", {})
    monkeypatch.setattr(optimize, "optimize", _fake_optimize(costs))
    result = featviz.render(tiny, "conv3", channels=range(6), steps=1, size=32, progress=False)
    assert result.settings["batch_size"] == expected
    assert list(json.loads((tmp_path / "batch_sizes.json").read_text()).values()) == [expected]
    # A new process reads the cache instead of measuring again.
    monkeypatch.setattr(batching, "_measured", {})
    monkeypatch.setattr(optimize, "optimize", _fake_optimize({1: 9.0, 2: 9.0, 4: 0.1}))
    monkeypatch.setattr(batching, "_measure", lambda *a: pytest.fail("measured again"))
    again = featviz.render(tiny, "conv3", channels=range(6), steps=1, size=32, progress=False)
    assert again.settings["batch_size"] == expected
