"""The render queue: every render a report asks for — units and directions, each at its layer —
done as one workload.

A report adds what it needs (:meth:`RenderQueue.unit`, :meth:`RenderQueue.direction`) and gets
back a :class:`Job`, then calls :meth:`RenderQueue.run` once. The queue

1. **deduplicates**: the same unit (or the exact same direction) asked for twice is one job;
2. **reads the render cache first** (and the atlases it knows), so nothing is rendered twice;
3. **batches what is left**: in the model's depth order, each layer's units as one render and its
   directions in chunks of :data:`DIRECTION_CHUNK`; where several layers have only a few units
   each and the device is launch-bound (CUDA), their units share one render — one forward pass
   through the deepest of them — see :func:`unit_batches`.

On the CPU a render of an early layer costs more through a deeper forward pass (measured in
``benchmarks/render_queue.py``), so there each layer keeps its own batch, which also keeps every
picture exactly what it was before the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from featviz.rendering.cache import Cached, CachedRenderer, direction_what

#: Direction renders per batch, by device type.
DIRECTION_CHUNK = {"cpu": 16, "cuda": 64}
#: On CUDA, layers with fewer pending units than this share one batch (launch-bound otherwise).
SHARED_BATCH_BELOW = {"cuda": 16}


@dataclass
class Job:
    """One render a report asked for: a unit (``"layer:channel"``) or a direction at ``layer``.

    After :meth:`RenderQueue.run`, ``found`` holds the picture and score (None when Ctrl-C came
    first) and ``cached`` says whether it came from the cache.
    """

    layer: str
    what: str
    vector: torch.Tensor | None = None
    found: Cached | None = None
    cached: bool = False


@dataclass
class RenderQueue:
    """Renders asked for by one or several reports, run as one workload through a render cache.

    Example::

        queue = RenderQueue(CachedRenderer(prepared, cache, steps=128, size=128, seed=0, options={}))
        job = queue.unit("blocks.4:12")
        queue.run()
        job.found.image  # (3, 128, 128)
    """

    renderer: CachedRenderer
    progress: bool = True
    desc: str = "renders"
    rendered: int = 0
    reused: int = 0
    interrupted: bool = False
    _jobs: dict[str, Job] = field(default_factory=dict)

    def unit(self, what: str) -> Job:
        """The job of a unit ``"layer:channel"`` (the same job when asked twice)."""
        layer = what.rpartition(":")[0]
        return self._jobs.setdefault(what, Job(layer, what))

    def direction(self, layer: str, vector: torch.Tensor) -> Job:
        """The job of a direction at ``layer`` (the same job for the same values)."""
        what = direction_what(layer, vector)
        return self._jobs.setdefault(what, Job(layer, what, vector.detach()))

    def __len__(self) -> int:
        return len(self._jobs)

    def run(self, after_batch: Callable[[], None] | None = None) -> bool:
        """Fill every job: from the cache, else rendered in batches (and stored).

        Args:
            after_batch: called after each rendered batch (a report can refresh its page).

        Returns:
            False when Ctrl-C stopped the renders (finished jobs keep their pictures).
        """
        pending = [job for job in self._jobs.values() if job.found is None and not self._from_cache(job)]
        device = self.renderer.prepared.device.type
        chunk = DIRECTION_CHUNK.get(device, 16)
        depth = {info.layer: i for i, info in enumerate(self.renderer.prepared.layers())}
        layers = sorted({job.layer for job in pending}, key=lambda name: depth.get(name, len(depth)))
        units = {layer: [j for j in pending if j.layer == layer and j.vector is None] for layer in layers}
        batches: list[tuple[str, list[Job]]] = []
        for group in unit_batches([units[layer] for layer in layers], SHARED_BATCH_BELOW.get(device)):
            batches.append(("units", group))
        for layer in layers:
            vectors = [j for j in pending if j.layer == layer and j.vector is not None]
            batches.extend(("directions", vectors[i : i + chunk]) for i in range(0, len(vectors), chunk))
        batches.sort(key=lambda batch: (depth.get(batch[1][-1].layer, len(depth)), batch[0] != "units"))
        with tqdm(
            total=sum(len(jobs) for _, jobs in batches),
            disable=not self.progress,
            desc=self.desc,
            unit="render",
        ) as bar:
            for kind, jobs in batches:
                made = (
                    self.renderer.units([job.what for job in jobs])
                    if kind == "units"
                    else self.renderer.directions(jobs[0].layer, [job.vector for job in jobs])  # type: ignore[misc]
                )
                if made is None:
                    self.interrupted = True
                    return False
                for job, found in zip(jobs, made, strict=True):
                    job.found = found
                self.rendered += len(jobs)
                bar.update(len(jobs))
                if after_batch is not None:
                    after_batch()
        return True

    def _from_cache(self, job: Job) -> bool:
        found = (
            self.renderer.cached_unit(job.what)
            if job.vector is None
            else self.renderer.cached_direction(job.layer, job.vector)
        )
        if found is None:
            return False
        job.found, job.cached = found, True
        self.reused += 1
        return True


def unit_batches(layers: list[list[Job]], shared_below: int | None) -> list[list[Job]]:
    """The units' batches: one per layer, except that with ``shared_below`` set, consecutive
    layers with fewer pending units than that are merged into one batch (up to that size)."""
    batches: list[list[Job]] = []
    for jobs in layers:
        if not jobs:
            continue
        small = shared_below is not None and len(jobs) < shared_below
        last = batches[-1] if batches else None
        if small and last is not None and len(last) + len(jobs) <= shared_below:  # type: ignore[operator]
            last.extend(jobs)
        else:
            batches.append(list(jobs))
    return batches
