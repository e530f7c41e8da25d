"""How many images a render optimizes together when the caller does not say.

- CUDA: a one-step memory probe at batch 2 and the free memory (:func:`choose_batch_size`).
- CPU (and other devices): the fastest of :data:`CPU_CANDIDATES` per image-step, measured with a
  few real optimization steps the first time a model, layer set and size are rendered on this
  machine, and cached (:func:`measured_batch_size`). On 2 cores the best batch depends on the
  model, the layer and the machine's caches: measured for Lite0 at 224 px, batch 4 was slower than
  batch 1 up to ``blocks.4`` on one machine and faster on another, so no constant is right.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import platform
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

if TYPE_CHECKING:  # pragma: no cover
    from featviz.rendering.plan import Plan

#: Batch sizes tried on the CPU; past 4, activations outgrow the caches of a small machine.
CPU_CANDIDATES = (1, 2, 4)
#: Chunk size for atlases on CPU before anything is measured.
CPU_BATCH_SIZE = 4
#: Timed steps per candidate (after one untimed step), and rounds over the candidates.
_MEASURE_STEPS, _ROUNDS = 3, 2
#: A larger batch must beat the smaller one per image-step by this factor to be picked, so that
#: measurement noise cannot make a render slower than batch 1.
_MARGIN = 1.05

_measured: dict[str, int] = {}


def default_batch_size(plan: Plan) -> int:
    """The chunk size for a render of one target per image on ``plan``'s device."""
    n_images = plan.n_images
    if plan.device.type == "cpu":
        return measured_batch_size(plan)
    if plan.device.type != "cuda":  # MPS and others: their timings need their own syncs; unmeasured
        return min(n_images, CPU_BATCH_SIZE)
    from featviz.rendering.optimize import optimize

    device = plan.device
    probe = min(2, n_images)
    free, _ = torch.cuda.mem_get_info(device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with tqdm(disable=True) as quiet:
        optimize(dataclasses.replace(plan, steps=1, keep=set(), diversity=0.0), slice(0, probe), quiet)
    per_image = max(1, (torch.cuda.max_memory_allocated(device) - before) // probe)
    return choose_batch_size(free, per_image, n_images)


def choose_batch_size(free_bytes: int, per_image_bytes: int, n_images: int, cap: int = 256) -> int:
    """The largest power of two whose images fit in 70% of the free memory (at least 1).

    Example:
        >>> choose_batch_size(free_bytes=8 * 2**30, per_image_bytes=40 * 2**20, n_images=1000)
        128
    """
    fits = max(1, int(0.7 * free_bytes) // max(1, per_image_bytes))
    size = 1
    while size * 2 <= min(fits, cap):
        size *= 2
    return max(1, min(size, n_images))


def measured_batch_size(plan: Plan) -> int:
    """The candidate batch with the most image-steps per second for this render, measured once.

    The measurement runs :data:`_MEASURE_STEPS` real optimization steps of the render's first
    images at each candidate size (interleaved, best of :data:`_ROUNDS`) and is cached in memory
    and in ``cache_dir()/batch_sizes.json`` under a key of the model, layers, sizes,
    parameterization, transforms, device, thread count, CPU and torch version.
    """
    candidates = [b for b in CPU_CANDIDATES if b <= plan.n_images]
    if len(candidates) <= 1:
        return 1
    key = _key(plan, candidates)
    if key not in _measured:
        stored = _read_cache().get(key)
        _measured[key] = (
            int(stored) if isinstance(stored, int) and stored >= 1 else _measure(plan, candidates)
        )
        if stored is None:
            _write_cache(key, _measured[key])
    return min(_measured[key], plan.n_images)


def _measure(plan: Plan, candidates: list[int]) -> int:
    from featviz.rendering.optimize import optimize

    rates = {b: 0.0 for b in candidates}
    # Without the diversity term (it compares whole groups of renders): per-image cost only.
    one = dataclasses.replace(plan, steps=1, keep=set(), redirect_steps=0, diversity=0.0)
    more = dataclasses.replace(one, steps=1 + _MEASURE_STEPS)
    with tqdm(disable=True) as quiet:
        for _ in range(_ROUNDS):
            for batch in candidates:
                # The first step pays one-time costs (allocations, kernel choice): time the
                # steps after it, as the difference of a 1-step and a (1 + n)-step loop.
                try:
                    parts = [optimize(one, slice(0, batch), quiet), optimize(more, slice(0, batch), quiet)]
                except torch.OutOfMemoryError:  # this batch does not fit: neither do larger ones
                    candidates = candidates[: candidates.index(batch)] or [1]
                    break
                if any(part.interrupted for part in parts):
                    raise KeyboardInterrupt  # Ctrl-C while measuring: stop the render, cache nothing
                first, total = parts[0].seconds, parts[1].seconds
                per_step = max(total - first, 1e-9) / _MEASURE_STEPS
                rates[batch] = max(rates[batch], batch / per_step)
    best = 1
    for batch in candidates[1:]:
        if rates[batch] > _MARGIN * rates[best]:
            best = batch
    return best


def _key(plan: Plan, candidates: list[int]) -> str:
    model = plan.prepared.model
    layers = sorted({t.layer for t in plan.request.targets or []})
    parts = [
        ",".join(map(str, candidates)),
        f"{plan.bf16},{plan.channels_last},{plan.compile}",
        plan.prepared.name,
        type(model).__qualname__,
        str(sum(p.numel() for p in model.parameters())),
        ",".join(layers),
        "x".join(map(str, plan.image_size)),
        "x".join(map(str, plan.model_size)),
        repr(plan.param),
        repr(plan.pipeline),
        str(plan.alpha),
        str(plan.device),
        str(torch.get_num_threads()),
        platform.processor() or platform.machine(),
        torch.__version__,
    ]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _read_cache() -> dict[str, object]:
    from featviz import files

    data = files.read_json(files.cache_dir() / "batch_sizes.json")
    return data if isinstance(data, dict) else {}


def _write_cache(key: str, batch: int) -> None:
    from featviz import files

    data = _read_cache()
    data[key] = batch
    # A read-only home: the measurement is kept in memory for this process only.
    with contextlib.suppress(OSError):
        files.write_text(json.dumps(data, indent=1, sort_keys=True), files.cache_dir() / "batch_sizes.json")
