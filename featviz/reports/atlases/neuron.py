"""Neuron atlases: every channel of a layer rendered in batches, with a gallery, resumable, shardable.

``featviz.atlas(model, "blocks.4", out_dir="atlas")`` writes::

    atlas/
      channels/0000.png ...      one image per channel (written atomically, batch by batch)
      grid.png                   all channels, labelled with channel number and score
      index.html                 a self-contained gallery: sort, click to enlarge, exemplars
      manifest.json              model, layer, settings, provenance, per-channel score and time

Rerunning the same call skips finished channels; a different setting with the same folder is
refused (or starts over with ``overwrite=True``). Under ``torchrun --nproc-per-node N`` the
channels are sharded across ranks (each writes its own images and ``manifest.rank<r>.json``);
rank 0 assembles the manifest, grid and page at the end. Channel ``c`` always gets the seed of
image ``c`` (:func:`featviz.rng.image_seed`), so its picture does not depend on batching, resuming
or sharding.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from featviz import files, imaging, rng
from featviz import options as opts
from featviz.errors import AtlasSettingsError, ChannelOutOfRangeError, InvalidArgumentError, WriteError
from featviz.model.hooks import find_module
from featviz.model.prepared import Prepared, prepare
from featviz.rendering.batching import CPU_BATCH_SIZE
from featviz.rendering.cache import model_fingerprint
from featviz.rendering.objectives import from_targets
from featviz.rendering.result import RenderResult
from featviz.rendering.run import render
from featviz.reports import frame
from featviz.version import __version__

MANIFEST = "manifest.json"
CHANNELS_DIR = "channels"
# Settings that change the pictures; a resume with any of them different is refused.
#: What made an atlas's channels: a folder holding channels made otherwise is not resumed.
_IDENTITY = (
    "model",
    "weights",
    "layer",
    "steps",
    "size",
    "seed",
    "render",
    "negative",
    "picture_defaults",
    "featviz",
)


@dataclass
class AtlasResult:
    """Where an atlas was written and what it holds."""

    out_dir: Path
    manifest: dict[str, Any]
    grid: Path | None
    index: Path | None

    @property
    def channels(self) -> list[dict[str, Any]]:
        """One entry per finished channel: channel, file, score, seconds (and exemplars)."""
        return list(self.manifest["channels"])


def atlas(
    model: nn.Module | str,
    layer: str,
    channels: Iterable[int] | None = None,
    out_dir: str | os.PathLike[str] = "atlas",
    *,
    steps: int = opts.DEFAULTS.steps,
    size: int | tuple[int, int] | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    examples: str | os.PathLike[str] | None = None,
    top_k: int = 4,
    negative: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    **render_kwargs: Any,
) -> AtlasResult:
    """Render every channel (or ``channels``) of ``layer`` into ``out_dir``, with a gallery.

    Example:
        >>> featviz.atlas("efficientnet_lite0", "blocks.4", out_dir="atlas_b4", steps=128)
        >>> featviz.atlas(model, "layer3", channels=range(64), examples="photos/")

    Args:
        model: an ``nn.Module`` or a zoo name.
        layer: dotted module path of a layer with channels.
        channels: which channels (default: all of them).
        out_dir: folder for the images, grid, page and manifest.
        steps, size: as in :func:`featviz.render`.
        batch_size: channels per batch, written when the batch is finished (default: 4 on CPU,
            64 on CUDA, halved on out-of-memory); with the default, on the CPU render picks how
            many of a batch to optimize together (:mod:`featviz.rendering.batching`).
        seed: channel ``c`` gets ``image_seed(seed, c)``.
        examples: a folder of your own images; each channel also shows its ``top_k`` most
            activating crops from it (dataset exemplars, Borowski et al. 2021).
        top_k: exemplars per channel.
        negative: also render the image that *minimizes* each channel (what turns it off).
        overwrite: start over if ``out_dir`` holds an atlas made with other settings.
        progress: a progress bar counting channels across batches.
        **render_kwargs: passed to :func:`featviz.render` (``param``, ``transforms``, ``lr``,
            ``preprocess``, ``precision``, ...); ``renders=K`` gives each channel K diverse
            renders (the first is the channel's picture, all are in the gallery).

    Returns:
        An :class:`AtlasResult` (on every rank; ``grid``/``index`` are None except on rank 0).

    Raises:
        LayerNotFoundError, ChannelOutOfRangeError: bad layer or channels.
        AtlasSettingsError: ``out_dir`` holds work with other settings and ``overwrite`` is off.
        KeyboardInterrupt: after Ctrl-C; every finished batch is on disk, rerun to resume.
    """
    check_arguments(batch_size, top_k, examples)
    rank, world, device, owned = frame.distributed(render_kwargs.pop("device", None))
    try:
        run = LayerRun(
            steps, size, batch_size, seed, examples, top_k, negative, overwrite, progress, render_kwargs
        )
        return build_layer(model, layer, channels, Path(out_dir), rank, world, device, run)
    except WriteError as error:
        raise _stopped_writing(error, Path(out_dir)) from error
    finally:
        if owned:
            torch.distributed.destroy_process_group()


def check_arguments(batch_size: int | None, top_k: int, examples: str | os.PathLike[str] | None) -> None:
    """An atlas's own arguments, checked before any work (render options are checked by render);
    a microscope checks its layers' the same way."""
    if batch_size is not None:
        frame.check_count("batch_size", batch_size)
    frame.check_count("top_k", top_k)
    frame.check_folder(examples, "examples")


def _stopped_writing(error: WriteError, out: Path) -> WriteError:
    """The error for a file that could not be written, saying what the folder keeps."""
    kept: set[int] = set()
    for path in [out / MANIFEST, *sorted(out.glob("manifest.rank*.json"))]:
        manifest = files.read_json(path)
        if isinstance(manifest, dict):
            kept |= {int(e["channel"]) for e in manifest.get("channels", []) if (out / e["file"]).exists()}
    stopped = WriteError(
        f"{error} The atlas stopped there; the {len(kept)} channel(s) recorded in its manifest are "
        f"kept in {out}, so rerunning the same command resumes."
    )
    stopped.errno, stopped.strerror, stopped.filename = error.errno, error.strerror, error.filename
    return stopped


@dataclass(frozen=True)
class LayerRun:
    """How a layer's atlas is rendered: the settings :func:`atlas` takes (a microscope uses the
    same for every layer)."""

    steps: int
    size: int | tuple[int, int] | None
    batch_size: int | None
    seed: int
    examples: str | os.PathLike[str] | None
    top_k: int
    negative: bool
    overwrite: bool
    progress: bool
    render_kwargs: dict[str, Any]


def batches(device: torch.device, batch_size: int | None) -> tuple[int, int | None]:
    """How an atlas renders its channels: how many are written after each batch, and the
    ``batch_size`` render gets. On the CPU render itself picks how many of a batch to optimize
    together (:mod:`featviz.rendering.batching`) unless ``batch_size`` says."""
    on_cpu = device.type == "cpu"
    size_of_batch = batch_size or (CPU_BATCH_SIZE if on_cpu else 64)
    return size_of_batch, None if on_cpu and batch_size is None else size_of_batch


def build_layer(
    model: nn.Module | str | Prepared,
    layer: str,
    channels: Iterable[int] | None,
    out: Path,
    rank: int,
    world: int,
    device: torch.device | str | None,
    run: LayerRun,
) -> AtlasResult:
    """The atlas of one layer, on one rank."""
    render_kwargs = dict(run.render_kwargs)
    preprocess = render_kwargs.pop("preprocess", None)
    given_layouts = render_kwargs.pop("layouts", None)
    run = replace(run, render_kwargs=render_kwargs)
    steps, size, seed = run.steps, run.size, run.seed
    prepared = prepare(model, preprocess=preprocess, device=device, layouts=given_layouts)
    find_module(prepared.model, layer)
    table = {info.layer: info for info in prepared.layers()}
    count = table[layer].channels if layer in table else None
    if not count:
        raise InvalidArgumentError(f"layer {layer!r} has no channels to render (output shape ())")
    wanted = sorted(set(range(count) if channels is None else (int(c) for c in channels)))
    bad = [c for c in wanted if not 0 <= c < count]
    if bad:
        raise ChannelOutOfRangeError(
            f"channels {bad[:5]} are out of range for layer {layer!r}, which has {count} channels "
            f"(valid: 0..{count - 1})"
        )
    settings = {
        "model": prepared.name,
        "layer": layer,
        "steps": steps,
        "size": list(size) if isinstance(size, tuple) else size,
        "seed": seed,
        # Changes of the default look (not visible in "render"): a resume never mixes two looks.
        "picture_defaults": opts.PICTURE_DEFAULTS,
        "weights": model_fingerprint(prepared),
        "featviz": __version__,
        "render": {
            k: opts.describe(v)
            for k, v in sorted(
                opts.changed({**render_kwargs, "preprocess": preprocess, "layouts": given_layouts}).items()
            )
        },
    }
    if run.negative:  # recorded only when on, so atlases made before the option still resume
        settings["negative"] = True
    # One run per folder (per rank): a second one would render the same channels again.
    with files.folder_lock(out, f".lock.rank{rank}", f"an atlas of {layer}"):
        return _render_channels(prepared, layer, wanted, out, rank, world, settings, run)


def _render_channels(
    prepared: Prepared,
    layer: str,
    wanted: list[int],
    out: Path,
    rank: int,
    world: int,
    settings: dict[str, Any],
    run: LayerRun,
) -> AtlasResult:
    """Render the channels not yet done, then (rank 0) the manifest, grid and page."""
    steps, size, seed, batch_size, render_kwargs = (
        run.steps,
        run.size,
        run.seed,
        run.batch_size,
        run.render_kwargs,
    )
    done = _load_progress(out, settings, run.overwrite)
    mine = wanted[rank::world]
    todo = [c for c in mine if c not in done or not _files_exist(out, done[c])]
    if todo and rank == 0:  # the gallery comes back, complete, when the channels are done
        frame.retire_page(out)
    size_of_batch, render_batch = batches(prepared.device, batch_size)
    own_manifest = out / (MANIFEST if world == 1 else f"manifest.rank{rank}.json")

    bar = frame.progress(
        len(mine), f"{layer} channels", run.progress and rank == 0, unit="ch", initial=len(mine) - len(todo)
    )
    try:
        for start in range(0, len(todo), size_of_batch):
            batch = todo[start : start + size_of_batch]
            result = render(
                prepared,
                [f"{layer}:{c}" for c in batch],
                steps=steps,
                size=size,
                seed=_channel_seeds(seed, batch, render_kwargs.get("renders", 1)),
                batch_size=render_batch,
                progress=False,
                **render_kwargs,
            )
            if result.interrupted:  # a partial batch is not a finished one
                raise KeyboardInterrupt
            lowest = None
            if run.negative:
                lowest = _negatives(prepared, layer, batch, steps, size, seed, render_kwargs)
            per_channel = round((result.seconds + (lowest.seconds if lowest else 0.0)) / len(batch), 3)
            renders = len(result.images) // len(batch)
            for index, c in enumerate(batch):
                done[c] = _save_channel(out, c, result, index * renders, renders, lowest, index)
                done[c]["seconds"] = per_channel
            _write_manifest(own_manifest, settings, [done[c] for c in sorted(done)])
            bar.update(len(batch))
    finally:
        bar.close()

    if world > 1:
        torch.distributed.barrier()
    if rank != 0:
        return AtlasResult(out, _manifest_dict(settings, [done[c] for c in sorted(done)]), None, None)
    entries = _load_progress(out, settings, overwrite=False)  # every rank's finished channels
    finished = [entries[c] for c in wanted if c in entries]
    if run.examples is not None:
        from featviz.analysis.exemplars import attach_exemplars

        attach_exemplars(prepared, layer, finished, Path(run.examples), out, run.top_k)
    manifest = _write_manifest(out / MANIFEST, settings, finished)
    grid = _write_grid(out, finished)
    from featviz.reports.atlases.gallery import write_gallery

    page = write_gallery(out, manifest)
    for partial in out.glob("manifest.rank*.json"):
        partial.unlink()
    return AtlasResult(out, manifest, grid, page)


def _files_exist(out: Path, entry: dict[str, Any]) -> bool:
    """Whether every picture of a finished channel (renders, negative) is still on disk."""
    files = [
        entry["file"],
        *entry.get("renders", []),
        *([entry["negative"]] if entry.get("negative") else []),
    ]
    return all((out / file).exists() for file in files)


def _channel_seeds(seed: int, channels: list[int], renders: object) -> rng.ImageSeeds:
    """Channel ``c``'s first render has the seed of image ``c`` (as without ``renders``); its
    further renders seeds derived from that one."""
    count = renders if isinstance(renders, int) and not isinstance(renders, bool) and renders > 1 else 1
    firsts = [rng.image_seed(seed, c) for c in channels]
    return rng.ImageSeeds(s if k == 0 else rng.image_seed(s, k) for s in firsts for k in range(count))


def _save_channel(
    out: Path,
    channel: int,
    result: RenderResult,
    first: int,
    renders: int,
    lowest: RenderResult | None,
    index: int,
) -> dict[str, Any]:
    """Write a channel's renders (``result`` images ``first ..``) and its negative (``lowest``
    image ``index``); return its manifest entry."""
    files = [f"{CHANNELS_DIR}/{channel:04d}.png"]
    files += [f"{CHANNELS_DIR}/{channel:04d}_r{k}.png" for k in range(1, renders)]
    for k, file in enumerate(files):
        imaging.save_image(result.to_pil(first + k), out / file)
    entry: dict[str, Any] = {"channel": channel, "file": files[0], "score": float(result.scores[first])}
    if renders > 1:
        entry["renders"] = files
        entry["render_scores"] = [float(v) for v in result.scores[first : first + renders]]
    if lowest is not None:
        entry["negative"] = f"{CHANNELS_DIR}/{channel:04d}_neg.png"
        entry["negative_score"] = float(lowest.scores[index])
        imaging.save_image(lowest.to_pil(index), out / entry["negative"])
    return entry


def _negatives(
    prepared: Prepared,
    layer: str,
    batch: list[int],
    steps: int,
    size: int | tuple[int, int] | None,
    seed: int,
    render_kwargs: dict[str, Any],
) -> RenderResult:
    """One image per channel of ``batch`` that minimizes it (its score is the channel's value)."""
    # One image per channel: no renders, no diversity, and no per-render start images.
    kwargs = {k: v for k, v in render_kwargs.items() if k not in ("renders", "diversity", "init")}
    if render_kwargs.get("renders", 1) == 1 and "init" in render_kwargs:
        kwargs["init"] = render_kwargs["init"]
    lowest = render(
        prepared,
        -from_targets([f"{layer}:{c}" for c in batch]),
        batch=len(batch),
        steps=steps,
        size=size,
        seed=rng.ImageSeeds(rng.image_seed(seed, c) for c in batch),
        diversity=0.0,
        progress=False,
        **kwargs,
    )
    if lowest.interrupted:
        raise KeyboardInterrupt
    lowest.scores = -lowest.scores
    return lowest


def _manifest_dict(settings: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {**settings, "provenance": frame.provenance(settings["model"], settings), "channels": entries}


def _write_manifest(path: Path, settings: dict[str, Any], entries: list[dict[str, Any]]) -> dict:
    manifest = _manifest_dict(settings, entries)
    frame.write_record(manifest, path, indent=2)
    return manifest


def _load_progress(out: Path, settings: dict[str, Any], overwrite: bool) -> dict:
    """Finished channels recorded in ``out`` (any manifest), after checking their settings."""
    done: dict[int, dict[str, Any]] = {}
    for path in [out / MANIFEST, *sorted(out.glob("manifest.rank*.json"))]:
        manifest = files.read_json(path)
        if not isinstance(manifest, dict):
            continue
        changed = [k for k in _IDENTITY if manifest.get(k) != settings.get(k)]
        if changed:
            if overwrite:
                continue
            was = ", ".join(f"{k}={manifest.get(k)!r}" for k in changed)
            now = ", ".join(f"{k}={settings.get(k)!r}" for k in changed)
            raise AtlasSettingsError(
                f"{out} holds an atlas made with {was}, but this run asks for {now}; use another "
                "folder, or pass overwrite=True (--overwrite) to start over"
            )
        done.update({int(e["channel"]): e for e in manifest.get("channels", [])})
    return done


def _write_grid(out: Path, entries: list[dict[str, Any]]) -> Path | None:
    if not entries:
        return None
    batch = imaging.load_images([out / entry["file"] for entry in entries])
    labels = [f"{e['channel']}  {e['score']:.3g}" for e in entries]
    return imaging.save_image(imaging.labelled_grid(batch, labels), out / "grid.png")
