"""Seeds: every random number featviz draws comes from a generator derived here.

Each image of a batch has its own seed, so an image's picture does not depend on what else is in
the batch: image *i* of ``render(..., seed=s)`` uses ``image_seeds(s, n)[i]``, and a sequence of
seeds gives each image its own explicitly. Within an image, each consumer (initial parameters,
transforms, ...) gets its own stream via :func:`generator`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from featviz.errors import InvalidArgumentError

_MASK = (1 << 64) - 1

# Stream numbers of the consumers of an image seed.
INIT, TRANSFORMS, BACKGROUNDS = 0, 1, 2


def _mix(value: int) -> int:
    """A 64-bit finalizer (splitmix64): nearby inputs give unrelated outputs."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


class ImageSeeds(tuple):
    """Per-image seeds already derived by :func:`image_seeds`; deriving them again keeps them.

    This is what lets a render split its images into chunks: ``ImageSeeds(seeds[a:b])`` gives
    images a..b-1 exactly the seeds they would have had in one batch.
    """


def image_seeds(seed: int | Sequence[int], n: int) -> ImageSeeds:
    """Per-image seeds: derived from one int, or given one per image.

    Raises:
        InvalidArgumentError: a sequence whose length is not ``n``, or a non-integer seed.
    """
    if isinstance(seed, ImageSeeds) and len(seed) == n:
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, Sequence)):
        raise InvalidArgumentError(f"seed must be an int or a list of ints, got {seed!r}")
    if isinstance(seed, int):
        return ImageSeeds(image_seed(seed, i) for i in range(n))
    seeds = list(seed)
    if len(seeds) != n or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise InvalidArgumentError(f"a list of seeds needs one int per image ({n}), got {seeds!r}")
    return ImageSeeds(_mix(s & _MASK) for s in seeds)


def image_seed(seed: int, index: int) -> int:
    """The seed ``image_seeds(seed, n)[index]`` for any ``n > index``, without building the list.

    An atlas gives channel ``c`` the seed of image ``c``, so its picture is the same however the
    channels are batched, resumed or sharded.
    """
    return _mix(_mix(seed & _MASK) + index)


def generator(image_seed: int, stream: int) -> torch.Generator:
    """A CPU generator for one consumer (``INIT``, ``TRANSFORMS``) of one image's seed."""
    g = torch.Generator()
    g.manual_seed(_mix(image_seed ^ (stream * 0x632BE59BD9B4E019)) & ((1 << 63) - 1))
    return g
