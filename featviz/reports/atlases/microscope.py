"""``featviz.microscope``: a whole model — its layers, their units, how they link — as one static site.

``featviz.microscope(model, "site")`` renders every chosen layer as a neuron atlas (resumable,
sharded under torchrun, one run per folder: :mod:`featviz.reports.atlases.neuron`) and then writes::

    site/
      index.html                 the layers (depth, type, layout, channels) and a search box
      layer_<i>.html             one layer: its units' pictures, sortable, each linking to its page
      unit_<i>_<cccc>.html       one unit: renders, negative, exemplars, the classes its render
                                 raises most, the units of the layer below that excite it most
      layers/<i>/...             the atlas of layer i (channels/, manifest.json, its own gallery)
      layers/<i>/activation_atlas/  with activation_atlases=: layer i's activation atlas over the
                                 examples (featviz.activation_atlas), linked from the index
      microscope.json            the layers, and per unit its links (classes, units below)

Links are measured on the unit's own render: the classes are those whose logits the render
raises most above the layer's average render; the units below are the channels of the previous
layer with the largest gradient × activation for the unit (Olah et al. 2018's channel attribution).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from featviz import files, imaging
from featviz import options as opts
from featviz.errors import InvalidArgumentError
from featviz.model import facts
from featviz.model.prepared import Prepared, prepare
from featviz.options import ACTIVATION_ATLAS_VECTORS
from featviz.rendering.cache import model_fingerprint, plain
from featviz.rendering.run import render
from featviz.reports import frame
from featviz.reports.atlases.activation import MAX_GRID, activation_atlas, atlas_key, render_settings
from featviz.reports.atlases.microscope_page import write_site
from featviz.reports.atlases.neuron import LayerRun, batches, build_layer, check_arguments
from featviz.targets import OUTPUT

LINKS = 4  # classes and units below shown per unit
LINKS_CHUNK = 16  # most unit renders per pass when linking (memory stays flat in the unit count)
#: A draft pass (``draft=True``) renders every unit as an explanation does.
DRAFT_STEPS = opts.EXPLAIN_STEPS
DRAFT_SIZE = opts.EXPLAIN_SIZE
ESTIMATE_STEPS = 4  # the estimate printed before a microscope times renders of 4 and 8 steps per layer


@dataclass
class MicroscopeResult:
    """Where the site was written: its index page and record (rank 0), the layers' atlases."""

    out_dir: Path
    index: Path | None
    record: dict[str, Any]


def microscope(
    model: nn.Module | str | Prepared,
    out_dir: str | os.PathLike[str] = "microscope",
    layers: Sequence[str] | None = None,
    channels: int | Iterable[int] | None = None,
    *,
    examples: str | os.PathLike[str] | None = None,
    activation_atlases: bool | Sequence[str] = False,
    atlas_grid: int = opts.ACTIVATION_ATLAS_GRID,
    negative: bool = True,
    steps: int = opts.DEFAULTS.steps,
    size: int | tuple[int, int] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    draft: bool = False,
    **render_kwargs: Any,  # noqa: ANN401 - featviz.render's options
) -> MicroscopeResult:
    """Render a model's layers unit by unit into a browsable, offline site.

    Example:
        >>> featviz.microscope("efficientnet_lite0", "site", channels=16)   # 16 units per block
        >>> featviz.microscope(model, "site", layers=["layer3", "layer4"], examples="photos/")

    Args:
        model: an ``nn.Module`` (left as it was), a zoo name or a prepared model.
        out_dir: the site's folder; rerunning the same call resumes (finished units are kept).
        layers: default every block output (:func:`featviz.model.facts.default_layers`).
        channels: per layer, the first N channels (an int) or these channels (default: all).
        examples: a folder of your photos: each unit also shows its top crops from them.
        activation_atlases: True, or some of the layers: also an activation atlas of each over
            ``examples`` (:func:`featviz.activation_atlas`, ``atlas_grid`` cells per side; cells
            render at its defaults, or at ``steps`` and ``size`` where those are smaller; renders
            go through the render cache). Made on rank 0.
        negative: also render each unit's negative (the image that minimizes it).
        steps, size, seed: as in :func:`featviz.atlas`.
        overwrite: start a layer over if its folder holds an atlas with other settings.
        progress: progress bars (and the estimate before starting, from a short measurement
            of every layer).
        draft: a quick first pass: every unit once, as an explanation renders
            (:data:`DRAFT_STEPS` steps at :data:`DRAFT_SIZE` px, fed to the model at that size
            where it takes it; no negatives), into ``layers/<i>/draft/``: a complete site in a
            fraction of the time (all 784 units of EfficientNet-Lite0 in 13 minutes on a
            2-core CPU). A later run without ``draft`` refines that site in place: each layer's units
            are rendered at the full settings and replace their drafts; the site stays
            browsable meanwhile (after Ctrl-C it shows what is refined so far), and what is
            refined is never rendered again.
        **render_kwargs: further :func:`featviz.render` options (``renders=K``, ``param``, ...).

    Returns:
        A :class:`MicroscopeResult` (``index`` is None on ranks other than 0).

    Raises:
        LayerNotFoundError, InvalidArgumentError: bad layers or channels.
        FolderBusyError: another run is writing the same site.
        KeyboardInterrupt: after Ctrl-C; rerun to resume.
    """
    check_arguments(render_kwargs.get("batch_size"), 4, examples)
    frame.check_count("atlas_grid", atlas_grid, 1, MAX_GRID)
    if isinstance(channels, bool):
        raise InvalidArgumentError(f"channels must be a count, a list of channels or None, got {channels!r}")
    rank, world, device, owned = frame.distributed(render_kwargs.pop("device", None))
    try:
        prepared = prepare(
            model,
            preprocess=render_kwargs.pop("preprocess", None),
            device=device,
            layouts=render_kwargs.pop("layouts", None),
        )
        out = Path(out_dir)
        batch_size = render_kwargs.pop("batch_size", None)
        if render_kwargs.get("resize") is None:  # the default: a draft decides its own
            render_kwargs.pop("resize", None)
        chosen = facts.in_depth_order(
            prepared, list(layers) if layers is not None else facts.default_layers(prepared)
        )
        table = {info.layer: info for info in prepared.layers()}
        plan = [(layer, _channels(layer, table, channels)) for layer in chosen]
        spaces = _atlas_layers(activation_atlases, chosen, examples)
        run = LayerRun(
            steps, size, batch_size, seed, examples, 4, negative, overwrite, progress, render_kwargs
        )
        if draft:
            run = _draft(prepared, run, chosen)
        # A run that refines a drafted site keeps it browsable; any other writes it anew at the end.
        refining = not draft and _has_drafts(out, len(plan))
        settings = {
            "draft": draft,
            "steps": run.steps,
            "size": run.size,
            "seed": seed,
            "negative": run.negative,
            **plain(run.render_kwargs),
        }
        if rank == 0:
            if not refining:
                frame.retire_page(out)
            if progress:
                _announce(prepared, plan, run)
        try:
            for i, (layer, wanted) in enumerate(plan):
                folder = out / "layers" / f"{i:02d}" / ("draft" if draft else "")
                build_layer(prepared, layer, wanted, folder, rank, world, prepared.device, run)
        except KeyboardInterrupt:
            if refining and rank == 0:  # the drafts and what is refined so far
                write_site(out, _record(prepared, out, plan, table, settings))
            raise
        if rank != 0:
            return MicroscopeResult(out, None, {})
        for i, (layer, _) in enumerate(plan):
            if layer in spaces and examples is not None:
                cells = {
                    "steps": min(steps, opts.EXPLAIN_STEPS),
                    "size": opts.EXPLAIN_SIZE if size is None else min(opts.EXPLAIN_SIZE, *_sides(size)),
                    "seed": seed,
                    **{k: v for k, v in render_kwargs.items() if k != "renders"},
                }
                _activation_atlas(prepared, layer, i, out, examples, atlas_grid, progress, cells)
        record = _record(prepared, out, plan, table, settings)
        index = write_site(out, record)
        return MicroscopeResult(out, index, record)
    finally:
        if owned:
            torch.distributed.destroy_process_group()


def _draft(prepared: Prepared, run: LayerRun, layers: list[str]) -> LayerRun:
    """The settings of a draft pass: one render per unit, short and small, fed as it is where the
    model takes that size; no negatives."""
    kwargs = {k: v for k, v in run.render_kwargs.items() if k != "renders"}
    kwargs["resize"] = facts.resize_for(prepared, DRAFT_SIZE, layers, kwargs.get("resize"))
    steps = min(run.steps, DRAFT_STEPS)
    return replace(run, steps=steps, size=DRAFT_SIZE, negative=False, render_kwargs=kwargs)


def _has_drafts(out: Path, layers: int) -> bool:
    return any((out / "layers" / f"{i:02d}" / "draft" / "manifest.json").is_file() for i in range(layers))


def _sides(size: int | tuple[int, int]) -> tuple[int, ...]:
    return (size,) if isinstance(size, int) else tuple(size)


def _channels(layer: str, table: dict[str, Any], channels: int | Iterable[int] | None) -> list[int]:
    info = table.get(layer)
    if info is None or not info.channels:
        raise InvalidArgumentError(
            f"layer {layer!r} has no channels to show (featviz.layers(model) lists the layers)"
        )
    if channels is None:
        return list(range(info.channels))
    if isinstance(channels, int) and not isinstance(channels, bool):
        if channels < 1:
            raise InvalidArgumentError(f"channels must be a positive count or a list, got {channels}")
        return list(range(min(channels, info.channels)))
    wanted = sorted({int(c) for c in channels if 0 <= int(c) < info.channels})  # type: ignore[union-attr]
    if not wanted:
        raise InvalidArgumentError(
            f"none of the channels given exist in {layer!r} ({info.channels} channels)"
        )
    return wanted


def _atlas_layers(
    wanted: bool | Sequence[str], chosen: list[str], examples: str | os.PathLike[str] | None
) -> set[str]:
    if wanted is False or (not isinstance(wanted, bool) and not wanted):
        return set()
    if examples is None:
        raise InvalidArgumentError(
            "activation atlases are made from your photos: pass examples=PHOTO_DIR (--examples) too"
        )
    if wanted is True:
        return set(chosen)
    layers = set(wanted)  # type: ignore[arg-type]
    missing = sorted(layers - set(chosen))
    if missing:
        raise InvalidArgumentError(
            f"activation atlases asked for layers the microscope does not show: {missing}; "
            f"choose among {chosen}"
        )
    return layers


def _activation_atlas(
    prepared: Prepared,
    layer: str,
    index: int,
    out: Path,
    examples: str | os.PathLike[str],
    grid: int,
    progress: bool,
    options: dict[str, Any],
) -> None:
    """Layer ``index``'s activation atlas, unless a finished one made of the same things (photos,
    model, settings, featviz version: :func:`atlas_key`) is there."""
    folder = out / "layers" / f"{index:02d}" / "activation_atlas"
    done = files.read_json(folder / "activation_atlas.json")
    fingerprint = model_fingerprint(prepared)
    settings = render_settings(**options)
    key = atlas_key(examples, fingerprint, layer, grid, ACTIVATION_ATLAS_VECTORS, None, "umap", settings)
    if isinstance(done, dict) and done.get("key") == key and not done.get("interrupted"):
        return
    atlas = activation_atlas(prepared, layer, examples, grid=grid, progress=progress, **options)
    atlas.save(
        folder, links=[("../../index.html", "all layers"), (f"../../layer_{index:02d}.html", "its units")]
    )
    if atlas.interrupted:
        raise KeyboardInterrupt


def _announce(prepared: Prepared, plan: list[tuple[str, list[int]]], run: LayerRun) -> None:
    """Print the number of units and an estimate of the render time, measured per layer on a
    batch of its units as the atlas renders them: after one step that makes the CPU's batch-size
    choice (which the atlas then reuses), renders of :data:`ESTIMATE_STEPS` and of twice as many
    steps; their difference is the cost of a step, the rest the fixed cost of a render call.
    Exemplars, activation atlases and the site's links are not in it."""
    units = sum(len(wanted) for _, wanted in plan)
    options = {k: v for k, v in run.render_kwargs.items() if k not in ("renders", "redirect_relu")}
    per_unit = int(run.render_kwargs.get("renders", 1)) * (2 if run.negative else 1)
    chunk, batch_size = batches(prepared.device, run.batch_size)
    seconds = 0.0
    for layer, wanted in plan:
        batch = [f"{layer}:{c}" for c in wanted[:chunk]]
        given = {"size": run.size, "batch_size": batch_size, "progress": False, "redirect_relu": False}

        def timed(steps: int, batch: list[str] = batch, given: dict[str, Any] = given) -> float:
            start = time.perf_counter()
            render(prepared, batch, steps=steps, **given, **options)
            return time.perf_counter() - start

        timed(1)  # the batch-size choice, once per layer
        short, long = timed(ESTIMATE_STEPS), timed(2 * ESTIMATE_STEPS)
        step = max(long - short, 0.0) / ESTIMATE_STEPS
        fixed = max(short - ESTIMATE_STEPS * step, 0.0)
        calls = -(-len(wanted) // len(batch)) * per_unit
        seconds += calls * (fixed + run.steps * step)
    size = f"{run.size} px" if run.size else "the model's input size"
    print(
        f"featviz microscope: {units} units in {len(plan)} layers, {run.steps} steps at {size}: "
        f"about {seconds / 60:.1f} min of renders here (measured on each layer)",
        flush=True,
    )


def _record(
    prepared: Prepared,
    out: Path,
    plan: list[tuple[str, list[int]]],
    table: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The site's data: layers, units and their links, measured on the units' renders."""
    layers = []
    for i, (layer, _) in enumerate(plan):
        info = table[layer]
        shown: dict[int, dict[str, Any]] = {}  # a unit's full render where made, else its draft
        for base, draft in ((f"layers/{i:02d}/draft/", True), (f"layers/{i:02d}/", False)):
            manifest = files.read_json(out / base / "manifest.json") or {"channels": []}
            for entry in manifest["channels"]:
                shown[int(entry["channel"])] = {
                    "channel": int(entry["channel"]),
                    "score": entry.get("score"),
                    "file": base + entry["file"],
                    "renders": [base + f for f in entry.get("renders", [entry["file"]])],
                    "negative": base + entry["negative"] if entry.get("negative") else None,
                    "exemplars": [base + f for f in entry.get("exemplars", [])],
                    "exemplar_sources": list(entry.get("exemplar_sources", [])),
                    "draft": draft,
                }
        units = [shown[channel] for channel in sorted(shown)]
        layers.append(
            {
                "index": i,
                "layer": layer,
                "type": info.type,
                "layout": info.layout,
                "channels": info.channels,
                "grid": list(info.spatial),
                "units": units,
                "activation_atlas": (
                    f"layers/{i:02d}/activation_atlas/index.html"
                    if (out / "layers" / f"{i:02d}" / "activation_atlas" / "index.html").is_file()
                    else None
                ),
            }
        )
    _links(prepared, out, layers)
    record = {
        "model": prepared.name,
        "layers": layers,
        "provenance": frame.provenance(prepared.name, settings),
    }
    frame.write_record(record, out / "microscope.json")
    return record


def _links(prepared: Prepared, out: Path, layers: list[dict[str, Any]]) -> None:
    """Each unit's top classes and its top units in the layer below, from its render.

    Units are read and passed through the model in chunks sized to the device's free memory
    (:func:`links_chunk`), so a layer of hundreds of units needs no more memory than a few.
    """
    for position, layer in enumerate(layers):
        units = layer["units"]
        if not units:
            continue
        below = layers[position - 1] if position > 0 else None
        chunk = links_chunk(prepared, layer["layer"], len(units))
        logits, contributions = [], []
        for start in range(0, len(units), chunk):
            part = units[start : start + chunk]
            images = imaging.load_images([out / unit["file"] for unit in part])
            logits.append(prepared.activations(images, {OUTPUT})[OUTPUT].cpu())
            if below is not None:
                channels = torch.tensor([unit["channel"] for unit in part])
                acts, grads, _ = prepared.gradients(
                    images, [below["layer"]], _own_units(channels), through=layer["layer"]
                )
                act, grad = acts[below["layer"]].cpu(), grads[below["layer"]].cpu()
                contributions.append((act * grad).flatten(2).sum(2) if act.dim() > 2 else act * grad)
        scores = torch.cat(logits)
        if scores.dim() == 2:
            for unit, classes in zip(units, facts.classes_raised(scores, LINKS), strict=True):
                unit["classes"] = [
                    {"class": c, "name": name, "raised": round(v, 3)} for c, name, v in classes
                ]
        if below is None:
            continue
        rendered = {unit["channel"] for unit in below["units"]}
        for unit, row in zip(units, torch.cat(contributions), strict=True):
            best = row.topk(min(LINKS, len(row)))
            unit["below"] = [
                {"channel": int(c), "contribution": round(float(v), 4), "rendered": int(c) in rendered}
                for v, c in zip(best.values, best.indices, strict=True)
            ]


def links_chunk(prepared: Prepared, layer: str, units: int) -> int:
    """How many unit renders the links of ``layer`` pass through the model at once: what fits in the
    device's memory (:func:`featviz.model.facts.images_per_pass`), at most :data:`LINKS_CHUNK`."""
    return facts.images_per_pass(prepared, layer, min(units, LINKS_CHUNK), backward=True)


def _own_units(channels: torch.Tensor):  # noqa: ANN202 - a score function
    """Image *i*'s score: its own channel ``channels[i]``, averaged over positions."""

    def score(act: torch.Tensor) -> torch.Tensor:
        picked = act[torch.arange(len(act)), channels.to(act.device)]
        return picked.flatten(1).mean(1) if picked.dim() > 1 else picked

    return score


__all__ = ["microscope", "MicroscopeResult"]
