"""Natural photos for the quality metrics: the reference crops and the natural pool.

Everything here works offline: the photos come with scikit-image (``pip install scikit-image``
or ``featviz[bench]``), or from a folder of the user's own images.

- :func:`reference_images` — the 50 crops the activation ratio has always been measured against
  (10 photos × the center square and its four corner squares of 60 % of the short side).
- :func:`natural_pool` — a larger pool for the judge-based metrics and the colour band: every
  photo scikit-image ships (:data:`COLOUR_PHOTOS` and :data:`GREY_PHOTOS`), or every image in a
  folder, cut into overlapping squares at three scales, each also mirrored. Each crop remembers
  the photo it came from, so a metric can keep a photo's crops out of its own comparison.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from featviz import files, imaging
from featviz.errors import InvalidArgumentError

# Every colour photograph scikit-image ships without a download (its ``cat`` is ``chelsea``;
# ``colorwheel`` and ``logo`` are drawings).
COLOUR_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "stereo_motorcycle",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
# The activation ratio's references (unchanged since its first tables): six colour photos and four
# grey textures and scenes.
REFERENCE_PHOTOS = (*COLOUR_PHOTOS[:6], "brick", "grass", "gravel", "camera")
# scikit-image's grey photographs (not its drawings, masks or thumbnails): the pool adds them
# as grey RGB crops, so a unit's exemplars and a 2-AFC query can come from more photos.
GREY_PHOTOS = ("brick", "camera", "cell", "clock", "coins", "grass", "gravel", "moon", "page", "text")
# ImageNet classes with an offline photo: 285 Egyptian cat (chelsea), 967 espresso (coffee),
# 657 missile (rocket).
CLASS_PHOTOS = {285: "chelsea", 967: "coffee", 657: "rocket"}
# Crop sides as a share of the photo's short side; squares overlap by half their side.
POOL_SCALES = (1.0, 0.6, 0.4)


def _skimage_data():  # noqa: ANN202 - a module
    try:
        from skimage import data
    except ImportError as error:
        raise InvalidArgumentError(
            "featviz's quality metrics need scikit-image for their natural photos; install it with "
            '`pip install scikit-image` (or `pip install "featviz[bench]"`)'
        ) from error
    return data


def photo(name: str) -> torch.Tensor:
    """A scikit-image photo by name, ``(3, H, W)`` in [0, 1] (grey photos repeated to RGB)."""
    array = getattr(_skimage_data(), name)()
    array = array[0] if isinstance(array, tuple) else array
    x = torch.tensor(np.asarray(array), dtype=torch.float32) / 255
    x = x[..., None].repeat(1, 1, 3) if x.dim() == 2 else x[..., :3]
    return x.permute(2, 0, 1)


def _resized(x: torch.Tensor, boxes: Sequence[tuple[int, int, int]], size: int) -> list[torch.Tensor]:
    return [
        F.interpolate(x[None, :, y : y + b, z : z + b], size=size, mode="bilinear", antialias=True)[0]
        for y, z, b in boxes
    ]


def _five_crops(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    h, w = x.shape[-2:]
    s = min(h, w)
    c = int(0.6 * s)
    boxes = [((h - s) // 2, (w - s) // 2, s), (0, 0, c), (0, w - c, c), (h - c, 0, c), (h - c, w - c, c)]
    return _resized(x, boxes, size)


def _starts(length: int, side: int) -> list[int]:
    """Evenly spaced offsets of a ``side`` window over ``length``, about half a side apart."""
    count = math.ceil((length - side) / (side / 2)) + 1 if length > side else 1
    return [round(i * (length - side) / max(1, count - 1)) for i in range(count)]


def pool_crops(x: torch.Tensor, size: int, scales: Sequence[float] = POOL_SCALES) -> torch.Tensor:
    """The pool's crops of one photo ``(3, H, W)``: overlapping squares at each scale, then the
    same squares mirrored left-right, each resized to ``size``."""
    h, w = x.shape[-2:]
    boxes = []
    for scale in scales:
        side = max(1, round(scale * min(h, w)))
        boxes += [(y, z, side) for y in _starts(h, side) for z in _starts(w, side)]
    crops = torch.stack(_resized(x, boxes, size))
    return torch.cat([crops, crops.flip(-1)])


@lru_cache(maxsize=4)
def reference_images(size: int = 224) -> torch.Tensor:
    """The 50 reference crops of :func:`featviz.metrics.activation_ratio`, ``(50, 3, size, size)``
    in [0, 1] (8-bit values)."""
    crops = [crop for name in REFERENCE_PHOTOS for crop in _five_crops(photo(name), size)]
    return imaging.quantized(torch.stack(crops))


def class_photos(label: int, size: int = 224) -> torch.Tensor:
    """The offline reference crops of an ImageNet class in :data:`CLASS_PHOTOS`."""
    if label not in CLASS_PHOTOS:
        raise InvalidArgumentError(f"no offline photos for class {label}; available: {sorted(CLASS_PHOTOS)}")
    return imaging.quantized(torch.stack(_five_crops(photo(CLASS_PHOTOS[label]), size)))


#: Where the cat is in :func:`cat_on_coffee`: rows and columns (top, bottom, left, right), 224 px.
CAT_BOX = (40, 184, 0, 144)


def cat_on_coffee() -> torch.Tensor:
    """scikit-image's cat (chelsea) pasted on its coffee photo: ``(3, 224, 224)`` in [0, 1].

    A known box around the cat (:data:`CAT_BOX`, 41 % of the picture) and a competing object (an
    espresso cup) beside it: the test picture for attribution maps, and the example report's photo.
    """
    top, bottom, left, right = CAT_BOX
    canvas = imaging.load_images(photo("coffee"), (224, 224))[0].clone()
    canvas[:, top:bottom, left:right] = imaging.load_images(photo("chelsea"), (bottom - top, right - left))[0]
    return canvas


@dataclass(eq=False)
class NaturalPool:
    """Natural crops and the photo each came from, with per-model caches of what metrics ask.

    Attributes:
        images: ``(N, 3, size, size)`` in [0, 1], 8-bit values.
        sources: for each crop, the name of its photo (scikit-image name or file path).
    """

    images: torch.Tensor
    sources: tuple[str, ...]
    # model/judge module → {key: tensor}; weak, so a pool does not keep models alive.
    _cache: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    def colour(self) -> torch.Tensor:
        """The crops of colour photos (every crop of a folder), ``(M, 3, size, size)``."""
        grey = torch.tensor([name in GREY_PHOTOS for name in self.sources])
        return self.images[~grey]

    def source_ids(self) -> torch.Tensor:
        """Each crop's photo as an integer id, ``(N,)``."""
        names = {name: index for index, name in enumerate(dict.fromkeys(self.sources))}
        return torch.tensor([names[name] for name in self.sources])

    def cached(self, owner: object, key: object) -> torch.Tensor | None:
        """What was stored for ``owner`` (a module) under ``key``, if anything."""
        return self._cache.get(owner, {}).get(key)

    def store(self, owner: object, key: object, value: torch.Tensor) -> torch.Tensor:
        self._cache.setdefault(owner, {})[key] = value
        return value


@lru_cache(maxsize=2)
def _shipped_pool(size: int) -> NaturalPool:
    crops, sources = [], []
    for name in (*COLOUR_PHOTOS, *GREY_PHOTOS):
        cut = pool_crops(photo(name), size)
        crops.append(cut)
        sources += [name] * len(cut)
    return NaturalPool(imaging.quantized(torch.cat(crops)), tuple(sources))


def natural_pool(folder: str | Path | None = None, size: int = 224) -> NaturalPool:
    """The natural pool: every photo scikit-image ships (1,364 crops at 224 px), or
    every image under ``folder``, cut by :func:`pool_crops`.

    The shipped pool is built once per process and size; a folder's is built on each call (keep
    the returned pool to reuse its caches).

    Raises:
        InvalidArgumentError: scikit-image is missing, or the folder is missing, empty or holds
            an unreadable image.
    """
    if folder is None:
        return _shipped_pool(size)
    crops, sources = [], []
    for path in files.image_files(folder):
        cut = pool_crops(imaging.read_photo(path), size)
        crops.append(cut)
        sources += [str(path)] * len(cut)
    return NaturalPool(imaging.quantized(torch.cat(crops)), tuple(sources))
