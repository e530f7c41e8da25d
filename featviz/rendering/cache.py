"""Renders kept on disk, so that a second explanation (or report) of the same model is fast.

A render is stored under a key made of everything that decides its pixels: the model's weights
(a hash of its state dict, so a fine-tuned copy never reuses its parent's pictures), the
preprocessing, what was maximized (a unit such as ``blocks.4:12``, or a direction's exact
vector), the steps, size and seed, featviz's picture defaults and version. Files::

    <folder>/<key[:2]>/<key>.png     the picture
    <folder>/<key[:2]>/<key>.json    its score and what it shows (for people reading the folder)

The default folder is ``renders/`` under featviz's cache directory (``$FEATVIZ_CACHE_DIR``, else
``~/.cache/featviz``). Neuron atlases serve as read-only sources too: a unit an atlas of the same
model and layer already shows is taken from the atlas (its ``channels/NNNN.png``) instead of
being rendered again.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from featviz import files, imaging, rng
from featviz import options as opts
from featviz.errors import InvalidArgumentError, WriteError
from featviz.files import cache_dir
from featviz.model.prepared import Prepared
from featviz.targets import Target

SUFFIX = ".png"


def model_fingerprint(prepared: Prepared) -> str:
    """A short hash of the model's weights and buffers, its class and its preprocessing."""
    digest = hashlib.sha256()
    digest.update(type(prepared.model).__name__.encode())
    digest.update(json.dumps(prepared.preprocess.describe(), sort_keys=True, default=str).encode())
    for name, tensor in prepared.model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:20]


def vector_key(vector: torch.Tensor) -> str:
    """A key for a direction: its float32 values, exactly."""
    data = vector.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:20]


@dataclass
class Cached:
    """One stored render: the picture ``(C, H, W)`` in [0, 1] and its objective's score."""

    image: torch.Tensor
    score: float


@dataclass
class RenderCache:
    """Renders on disk, found by what they show and how they were made.

    Args:
        folder: where renders are stored (default: ``renders/`` in featviz's cache directory);
            None with ``enabled=False`` keeps nothing.
        atlases: neuron-atlas folders to take unit renders from (read only).
        enabled: False renders everything anew and stores nothing.
    """

    folder: Path | None = None
    atlases: Sequence[Path] = ()
    enabled: bool = True
    #: Set when a write failed (a full disk): the cache is still read, no longer written.
    unwritable: bool = False
    _atlas_files: dict[tuple[str, str, int], Path] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.folder is None and self.enabled:
            self.folder = cache_dir() / "renders"
        if self.folder is not None:
            self.folder = Path(self.folder)
        for atlas in self.atlases:
            self._read_atlas(Path(atlas))

    def key(self, fingerprint: str, what: str, settings: dict[str, object]) -> str:
        """The key of a render of ``what`` (a unit, or ``direction(layer, <vector key>)``)."""
        record = {
            "model": fingerprint,
            "what": what,
            "settings": settings,
            "picture_defaults": opts.PICTURE_DEFAULTS,
            "featviz": _version(),
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def get(self, key: str) -> Cached | None:
        """The stored render of ``key``, or None (also for a damaged file: it is rendered anew)."""
        if not self.enabled or self.folder is None:
            return None
        image_path, info_path = self._paths(key)
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            image = imaging.load_images(image_path)[0]
        except (OSError, ValueError, InvalidArgumentError):
            return None
        return Cached(image, float(info.get("score", float("nan"))))

    def put(self, key: str, image: torch.Tensor, score: float, what: str) -> None:
        """Store a render (written atomically: a stopped run never leaves half a file).

        A cache that cannot be written (a full disk, no permission) does not stop the work: the
        first failure is said once as a warning, and renders go on without being kept.
        """
        if not self.enabled or self.folder is None or self.unwritable:
            return
        image_path, info_path = self._paths(key)
        try:
            imaging.save_image(imaging.to_pil(image.detach().cpu(), alpha=False), image_path)
            files.write_json({"what": what, "score": score}, info_path)
        except WriteError as error:
            self.unwritable = True
            warnings.warn(
                f"featviz: the render cache cannot be written ({error}); renders go on without being "
                "kept there — free some space, or pass another cache folder (--cache DIR)",
                stacklevel=2,
            )

    def from_atlas(self, model: str, target: Target) -> Cached | None:
        """A unit's render from one of the atlases, if one of the same model and layer shows it."""
        if target.channel is None or target.position is not None or target.head is not None:
            return None
        path = self._atlas_files.get((model, target.layer, target.channel))
        if path is None:
            return None
        try:
            with Image.open(path) as opened:
                image = imaging.load_images(opened.convert("RGB"))[0]
        except (OSError, ValueError, InvalidArgumentError):
            return None
        return Cached(image, float("nan"))

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = Path(self.folder or ".") / key[:2] / key
        return base.with_suffix(SUFFIX), base.with_suffix(".json")

    def _read_atlas(self, folder: Path) -> None:
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise InvalidArgumentError(
                f"{str(folder)!r} is not a neuron atlas (it has no manifest.json); give folders "
                "written by `featviz atlas` / featviz.atlas()"
            )
        manifest = files.read_json(manifest_path)
        model, layer = manifest.get("model"), manifest.get("layer")
        for entry in manifest.get("channels", []):
            path = folder / str(entry.get("file", ""))
            if path.is_file() and isinstance(entry.get("channel"), int):
                self._atlas_files[(str(model), str(layer), int(entry["channel"]))] = path


class CachedRenderer:
    """Renders of units and directions that go through a :class:`RenderCache`: what is stored
    (or shown by an atlas) is read back, the rest is rendered in batches and stored.

    Every render gets the same seed, so a picture does not depend on what was rendered with it.
    """

    def __init__(
        self,
        prepared: Prepared,
        cache: RenderCache,
        *,
        steps: int,
        size: int | tuple[int, int],
        seed: int,
        options: dict[str, Any],
    ) -> None:
        self.prepared = prepared
        self.cache = cache
        self.options = {"steps": steps, "size": size, **options}
        self.seed = rng.image_seed(seed, 0)
        self.settings = {"steps": steps, "size": size, "seed": seed, **plain(options)}
        self.fingerprint = model_fingerprint(prepared) if cache.enabled else ""

    def key(self, what: str) -> str:
        return self.cache.key(self.fingerprint, what, self.settings)

    def cached_unit(self, what: str) -> Cached | None:
        """A unit (``"layer:channel"``) from the cache or an atlas, or None."""
        layer, _, channel = what.rpartition(":")
        return self.cache.get(self.key(what)) or self.cache.from_atlas(
            self.prepared.name, Target(layer, int(channel))
        )

    def cached_direction(self, layer: str, vector: torch.Tensor) -> Cached | None:
        return self.cache.get(self.key(direction_what(layer, vector)))

    def units(self, whats: list[str]) -> list[Cached] | None:
        """Render units in one call and store them; None when Ctrl-C stopped the render."""
        from featviz.rendering.run import render

        result = render(self.prepared, whats, seed=[self.seed] * len(whats), progress=False, **self.options)
        if result.interrupted:
            return None
        found = [Cached(result.images[i], float(result.scores[i])) for i in range(len(whats))]
        for what, item in zip(whats, found, strict=True):
            self.cache.put(self.key(what), item.image, item.score, what)
        return found

    def directions(self, layer: str, vectors: list[torch.Tensor]) -> list[Cached] | None:
        """Render directions at ``layer`` (``cossim_pow=1``) as one batch and store them; None
        when Ctrl-C stopped the render."""
        from featviz.rendering.objectives import directions
        from featviz.rendering.run import render

        result = render(
            self.prepared,
            directions(layer, torch.stack(vectors), cossim_pow=1.0),
            batch=len(vectors),
            seed=[self.seed] * len(vectors),
            progress=False,
            **self.options,
        )
        if result.interrupted:
            return None
        found = [Cached(result.images[i], float(result.scores[i])) for i in range(len(vectors))]
        for vector, item in zip(vectors, found, strict=True):
            what = direction_what(layer, vector)
            self.cache.put(self.key(what), item.image, item.score, what)
        return found


def direction_what(layer: str, vector: torch.Tensor) -> str:
    """What a direction render is called in the cache: its layer and its exact values."""
    return f"direction({layer}, {vector_key(vector)})"


def plain(options: dict[str, object]) -> dict[str, object]:
    """Render options as a cache key and a record see them (objects by their repr)."""
    return {
        name: value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)
        for name, value in sorted(options.items())
    }


def make_cache(
    cache: RenderCache | str | os.PathLike[str] | bool | None,
    atlases: Iterable[str | os.PathLike[str]] = (),
) -> RenderCache:
    """A :class:`RenderCache` from the ``cache=`` argument: True/None for the default folder, a
    path for that folder, False for none; or a cache itself."""
    if isinstance(cache, RenderCache):
        return cache
    folders = [Path(a) for a in atlases]
    if cache is False:
        return RenderCache(None, folders, enabled=False)
    if cache is None or cache is True:
        return RenderCache(None, folders)
    if isinstance(cache, (str, os.PathLike)):
        return RenderCache(Path(cache), folders)
    raise InvalidArgumentError(
        f"cache must be True, False, a folder or a RenderCache, got {type(cache).__name__}"
    )


def _version() -> str:
    from featviz.version import __version__

    return __version__


__all__ = [
    "RenderCache",
    "Cached",
    "CachedRenderer",
    "make_cache",
    "model_fingerprint",
    "vector_key",
    "plain",
]
