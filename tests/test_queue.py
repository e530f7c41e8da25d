"""The render queue: one workload for every report — deduplicated, cache first, batched by layer."""

from __future__ import annotations

import torch

import featviz
from featviz.imaging import quantized
from featviz.rendering.cache import CachedRenderer, RenderCache
from featviz.rendering.queue import Job, RenderQueue, unit_batches

FAST = {"steps": 3, "size": 32, "seed": 0, "options": {}}


def _queue(tiny, tmp_path, calls: list[tuple[str, list[str]]] | None = None) -> RenderQueue:
    renderer = CachedRenderer(featviz.prepare(tiny, device="cpu"), RenderCache(tmp_path / "cache"), **FAST)
    if calls is not None:
        units, directions = renderer.units, renderer.directions
        renderer.units = lambda whats: calls.append(("units", list(whats))) or units(whats)  # type: ignore[method-assign]
        renderer.directions = lambda layer, vectors: (  # type: ignore[method-assign]
            calls.append(("directions", [layer] * len(vectors))) or directions(layer, vectors)
        )
    return RenderQueue(renderer, progress=False)


def test_the_same_render_asked_twice_is_one_job(tiny, tmp_path) -> None:
    queue = _queue(tiny, tmp_path)
    vector = torch.arange(16.0)
    assert queue.unit("conv3:1") is queue.unit("conv3:1")
    assert queue.direction("conv3", vector) is queue.direction("conv3", vector.clone())
    assert queue.direction("conv3", vector) is not queue.direction("conv2", vector)
    assert len(queue) == 3


def test_renders_go_layer_by_layer_in_depth_order_and_fill_every_job(tiny, tmp_path) -> None:
    calls: list[tuple[str, list[str]]] = []
    queue = _queue(tiny, tmp_path, calls)
    deep = [queue.unit(f"conv3:{c}") for c in (2, 0)]
    early = queue.unit("conv1:5")
    direction = queue.direction("conv1", torch.ones(8))
    assert queue.run()
    # on the CPU each layer keeps its own batch, the early layer first, units before directions
    assert calls == [("units", ["conv1:5"]), ("directions", ["conv1"]), ("units", ["conv3:2", "conv3:0"])]
    for job in [*deep, early, direction]:
        assert job.found is not None and job.found.image.shape == (3, 32, 32) and not job.cached
    assert queue.rendered == 4 and queue.reused == 0


def test_a_second_queue_reads_the_cache_and_renders_nothing(tiny, tmp_path) -> None:
    first = _queue(tiny, tmp_path)
    made = first.unit("conv3:1")
    first.run()
    calls: list[tuple[str, list[str]]] = []
    second = _queue(tiny, tmp_path, calls)
    again = second.unit("conv3:1")
    assert second.run() and calls == []
    # the cache keeps the 8-bit picture
    assert again.cached and torch.equal(again.found.image, quantized(made.found.image))  # type: ignore[union-attr]
    assert second.reused == 1 and second.rendered == 0


def test_a_render_is_the_same_through_the_queue_as_alone(tiny, tmp_path) -> None:
    queue = _queue(tiny, tmp_path)
    job = queue.unit("conv3:4")
    queue.run()
    alone = featviz.render(tiny, ["conv3:4"], steps=3, size=32, seed=[queue.renderer.seed], progress=False)
    assert torch.equal(job.found.image, alone.images[0])  # type: ignore[union-attr]


def test_ctrl_c_keeps_the_finished_batches(tiny, tmp_path) -> None:
    queue = _queue(tiny, tmp_path)
    early, deep = queue.unit("conv1:0"), queue.unit("conv3:0")
    units = queue.renderer.units
    queue.renderer.units = lambda whats: None if whats == ["conv3:0"] else units(whats)  # type: ignore[method-assign]
    assert queue.run() is False and queue.interrupted
    assert early.found is not None and deep.found is None and queue.rendered == 1


def test_small_batches_of_several_layers_share_one_where_the_device_asks() -> None:
    def jobs(layer: str, count: int) -> list[Job]:
        return [Job(layer, f"{layer}:{c}") for c in range(count)]

    layers = [jobs("a", 3), jobs("b", 2), jobs("c", 20), jobs("d", 1), jobs("e", 4)]
    assert [len(b) for b in unit_batches(layers, None)] == [3, 2, 20, 1, 4]  # CPU: per layer
    assert [len(b) for b in unit_batches(layers, 16)] == [5, 20, 5]  # CUDA: small ones share
    assert [len(b) for b in unit_batches([jobs("a", 10), jobs("b", 10)], 16)] == [10, 10]  # not past 16
