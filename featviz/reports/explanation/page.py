"""The report of an explanation: ``index.html`` (self-contained, safe to share), PNGs, JSON.

``Explanation.save(folder)`` writes::

    folder/
      index.html          the report: point at the photo to see what every layer sees there
                          (Olah et al. 2018's building blocks), which map to believe (deletion /
                          insertion), evolution with depth, then one section per layer
      explanation.json    every number (maps as nested lists), the settings, what each PNG shows
      photo.jpg           the photo as the model saw it
      legend_*.png        the two colour scales of the maps (strength, signed)
      l<i>_*.jpg          per layer i: maps over the photo, the activation grid and each of its
                          cells, the renders (JPEG: photographs and renders alike; a report stays
                          a few MB)
      concept<j>*.jpg     with a concept dictionary: the j-th concept's render and its map

File names are made from indices only; every string from the model, the photo's name or the user
reaches the page as JSON data shown with ``textContent`` (:mod:`featviz.reports.pagekit`). Maps are
drawn over a grey copy of the photo (so a red map never sits on a red object) with two colour
scales written here (no plotting library): an inferno-like sequential scale for strengths and
Grad-CAM, and Moreland's cool-warm diverging scale for signed maps (gradient × activation).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from featviz import files, imaging
from featviz.analysis.faithfulness import Faithfulness
from featviz.reports import frame
from featviz.reports import pagekit as html
from featviz.reports.explanation.record import Channel, ExplanationData, LayerExplanation, PhotoConcepts

# Matplotlib's "inferno" (van der Walt & Smith 2015, perceptually uniform) at 0, 0.1, ..., 1:
# dark (none) to bright yellow (strong). Linear between the anchors.
_SCALE = (
    torch.tensor(
        [
            [0, 0, 4],
            [22, 11, 57],
            [66, 10, 104],
            [106, 23, 110],
            [147, 38, 103],
            [188, 55, 84],
            [221, 81, 58],
            [243, 120, 25],
            [252, 165, 10],
            [246, 215, 70],
            [252, 255, 164],
        ],
        dtype=torch.float32,
    )
    / 255
)
# Moreland's "cool to warm" diverging scale (Moreland 2009, "Diverging Color Maps for Scientific
# Visualization", ISVC), perceptually linear in lightness on each side, at -1, -0.75, ..., 1:
# blue (against the class), light grey (zero), red (for the class).
_DIVERGING = (
    torch.tensor(
        [
            [59, 76, 192],
            [98, 130, 234],
            [141, 176, 254],
            [184, 208, 249],
            [221, 221, 221],
            [245, 196, 173],
            [244, 154, 123],
            [222, 96, 77],
            [180, 4, 38],
        ],
        dtype=torch.float32,
    )
    / 255
)
#: How much of a map's colour covers the grey photo under it.
MAP_OPACITY = 0.7
#: Signed maps are scaled by this quantile of their magnitude (the few places above it get the
#: scale's end colours), so one extreme position does not wash out the rest of the map.
SIGNED_QUANTILE = 0.99
#: A map beats the random orders on deletion (insertion) when its area is lower (higher) than
#: theirs by at least this share of the curves' span (the target's probability on the photo
#: against on the baseline): a smaller difference is not called either way.
FAITHFUL_MARGIN = 0.05
#: Below this span (the baseline is classed almost as the photo is) the curves tell nothing.
FAITHFUL_MIN_SPAN = 0.02
#: Channels listed per activation-grid cell (the page's "point at the photo" panel).
CELL_CHANNELS = 5
#: While renders are still being made, the page reloads itself this often (seconds).
RELOAD_SECONDS = 15
LEGENDS = {"strength": "legend_strength.png", "signed": "legend_signed.png"}


def _on_scale(anchors: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` positions in [0, 1] → ``(3, H, W)`` colours, linear between ``anchors``."""
    place = position.clamp(0, 1) * (len(anchors) - 1)
    low = place.floor().long().clamp(max=len(anchors) - 2)
    frac = (place - low.float())[..., None]
    colours = anchors[low] * (1 - frac) + anchors[low + 1] * frac
    return colours.permute(2, 0, 1)


def colour_scale(values: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` values in [0, 1] → ``(3, H, W)`` colours on the sequential (inferno-like) scale."""
    return _on_scale(_SCALE, values)


def diverging_scale(values: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` values in [-1, 1] → ``(3, H, W)`` colours on the diverging (cool-warm) scale."""
    return _on_scale(_DIVERGING, (values + 1) / 2)


def legend(signed: bool, width: int = 256, height: int = 14) -> torch.Tensor:
    """The colour scale as a ``(3, height, width)`` strip, low values on the left."""
    ramp = torch.linspace(-1 if signed else 0, 1, width).expand(height, width)
    return diverging_scale(ramp) if signed else colour_scale(ramp)


def overlay(photo: torch.Tensor, values: torch.Tensor, signed: bool = False) -> torch.Tensor:
    """A map over the layer's grid drawn over a grey copy of the photo (``(3, H, W)`` in [0, 1]).

    Unsigned maps: their positive part, scaled by its maximum, on the sequential scale. Signed
    maps: scaled by the :data:`SIGNED_QUANTILE` of their magnitude (zero stays in the middle), on
    the diverging scale. The colour covers the photo at :data:`MAP_OPACITY` everywhere, so a weak
    place is a colour of its own rather than a tint that vanishes.
    """
    size = photo.shape[-2:]
    values = values.detach().float().cpu()
    up = F.interpolate(values[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    grey = (photo * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdim=True)
    if signed:
        peak = float(torch.quantile(values.abs().flatten(), SIGNED_QUANTILE)) if values.numel() else 0.0
        colour = diverging_scale(up / peak if peak > 0 else up * 0)
    else:
        positive = up.clamp(min=0)
        peak = float(positive.max())
        colour = colour_scale(positive / peak if peak > 0 else positive)
    return (grey * (1 - MAP_OPACITY) + colour * MAP_OPACITY).clamp(0, 1)


def grid_mosaic(layer: LayerExplanation, cell_px: int) -> torch.Tensor:
    """The activation grid as one picture: each cell's render in its place, faded to white by
    how weakly the photo activates that cell (as in Olah et al.'s figures)."""
    rows, cols = layer.cells
    canvas = torch.ones(3, rows * cell_px, cols * cell_px)
    peak = float(layer.cell_strength.max()) or 1.0
    for index, cell in enumerate(layer.cell_renders):
        if cell is None or cell.image is None:
            continue
        row, col = divmod(index, cols)
        image = F.interpolate(
            cell.image[None, :3].float(),
            size=(cell_px, cell_px),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )[0].clamp(0, 1)
        opacity = 0.25 + 0.75 * float(layer.cell_strength[row, col]) / peak
        canvas[:, row * cell_px : (row + 1) * cell_px, col * cell_px : (col + 1) * cell_px] = (
            image * opacity + (1 - opacity)
        )
    return canvas


# -- the report folder ---------------------------------------------------------------------------


class _Files:
    """Writes the PNGs of the report and remembers their relative names."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def image(self, name: str, image: torch.Tensor | None) -> str | None:
        if image is None:
            return None
        imaging.save_image(
            imaging.to_pil(image.detach().float().cpu().clamp(0, 1), alpha=False), self.out / name
        )
        return name


def write_report(explanation: ExplanationData, out: Path) -> Path:
    """Write the report of ``explanation`` into ``out``; returns ``out/index.html``."""

    pictures = _Files(out)
    photo = explanation.photo
    pictures.image("photo.jpg", photo)
    for kind, name in LEGENDS.items():
        pictures.image(name, legend(signed=kind == "signed"))
    layers = []
    for i, layer in enumerate(explanation.layers):
        prefix = f"l{i}_"

        def channel_entries(
            channels: list[Channel], kind: str, signed: bool = False, prefix: str = prefix
        ) -> list[dict[str, Any]]:
            return [
                {
                    "channel": c.channel,
                    "value": frame.number(c.value),
                    "render": pictures.image(f"{prefix}{kind}{j}.jpg", c.render.image),
                    "map": pictures.image(f"{prefix}{kind}{j}_map.jpg", overlay(photo, c.map, signed)),
                    "score": c.render.score,
                }
                for j, c in enumerate(channels)
            ]

        cell_px = max(48, min(96, 480 // max(layer.cells)))
        cell_channels = cell_top_channels(layer)
        layers.append(
            {
                "layer": layer.layer,
                "channels": layer.channels,
                "grid": list(layer.grid_shape),
                "cells": list(layer.cells),
                "strength": pictures.image(f"{prefix}strength.jpg", overlay(photo, layer.strength)),
                "activation_grid": pictures.image(f"{prefix}grid.jpg", grid_mosaic(layer, cell_px)),
                "cells_rendered": sum(1 for c in layer.cell_renders if c is not None and c.image is not None),
                "cells_total": sum(1 for c in layer.cell_renders if c is not None),
                "grid_cells": [
                    {
                        "render": cell and pictures.image(f"{prefix}cell{k}.jpg", cell.image),
                        "strength": frame.number(strength),
                        "channels": cell_channels[k],
                    }
                    for k, (cell, strength) in enumerate(
                        zip(layer.cell_renders, layer.cell_strength.flatten().tolist(), strict=True)
                    )
                ],
                "peak_cell_strength": frame.number(float(layer.cell_strength.max())),
                "grad_cam": pictures.image(f"{prefix}gradcam.jpg", overlay(photo, layer.grad_cam)),
                "attribution": pictures.image(
                    f"{prefix}attribution.jpg", overlay(photo, layer.attribution, signed=True)
                ),
                "faithfulness": faithfulness_numbers(layer),
                "top": channel_entries(layer.top, "top"),
                "groups": [
                    {
                        "share": frame.number(g.share),
                        "map": pictures.image(f"{prefix}group{j}_map.jpg", overlay(photo, g.map)),
                        "render": pictures.image(f"{prefix}group{j}.jpg", g.render.image),
                        "channels": _top_weights(g.weights),
                    }
                    for j, g in enumerate(layer.groups)
                ],
                "explained_variance": frame.number(layer.explained_variance),
                "attributing": channel_entries(layer.attributing, "attr", signed=True),
            }
        )
    concepts = None
    if explanation.concepts is not None:
        concepts = {
            **_concepts_summary(explanation.concepts),
            "concepts": [
                {
                    "concept": c.concept,
                    "contribution": frame.number(c.contribution),
                    "share": frame.number(c.share),
                    "peak": frame.number(float(c.map.max())),
                    "render": pictures.image(f"concept{j}.jpg", c.render.image),
                    "map": pictures.image(f"concept{j}_map.jpg", overlay(photo, c.map)),
                    "score": c.render.score,
                }
                for j, c in enumerate(explanation.concepts.concepts)
            ],
        }
    data = {
        "title": f"{explanation.model} · {explanation.source}",
        "model": explanation.model,
        "source": explanation.source,
        "photo": "photo.jpg",
        "legends": LEGENDS,
        "start": _start(explanation),
        "min_span": FAITHFUL_MIN_SPAN,
        "predictions": [
            {"class": c, "name": name, "probability": frame.number(p)}
            for c, name, p in explanation.predictions
        ],
        "target": explanation.target,
        "target_name": explanation.target_name,
        "subtitle": _subtitle(explanation),
        "interrupted": explanation.interrupted,
        "rendering": explanation.rendering,
        "faithfulness_pending": explanation.faithfulness_pending,
        "layers": layers,
        "concepts": concepts,
    }
    record = numbers(explanation)
    record["files"] = {"photo": "photo.jpg", "legends": LEGENDS, "layers": layers, "concepts": concepts}
    frame.write_record(record, out / "explanation.json")
    js, css = html.asset(__package__, "page.js"), html.asset(__package__, "page.css")
    refresh = RELOAD_SECONDS if explanation.rendering or explanation.faithfulness_pending else None
    page = html.page(
        f"featviz explanation: {data['title']}", _BODY, js=js, css=css, data=data, refresh=refresh
    )
    return files.write_text(page, out / "index.html")


def numbers(explanation: ExplanationData) -> dict[str, Any]:
    """Every number of the explanation as plain JSON data (NaN as None)."""

    def grid(values: torch.Tensor) -> list[list[float | None]]:
        return [[frame.number(v) for v in row] for row in values.tolist()]

    def channels(items: list[Channel], value: str) -> list[dict[str, Any]]:
        return [
            {"channel": c.channel, value: frame.number(c.value), "render_score": c.render.score}
            for c in items
        ]

    return {
        "model": explanation.model,
        "source": explanation.source,
        "predictions": [
            {"class": c, "name": name, "probability": frame.number(p)}
            for c, name, p in explanation.predictions
        ],
        "target": explanation.target,
        "target_name": explanation.target_name,
        "settings": explanation.settings,
        "seconds": round(explanation.seconds, 2),
        "renders_made": explanation.rendered,
        "renders_reused": explanation.reused,
        "stages": {stage: round(seconds, 2) for stage, seconds in explanation.stages.items()},
        "interrupted": explanation.interrupted,
        "rendering": explanation.rendering,
        "faithfulness_pending": explanation.faithfulness_pending,
        "provenance": frame.provenance(explanation.model, explanation.settings, explanation.fingerprint),
        "layers": [
            {
                "layer": layer.layer,
                "channels": layer.channels,
                "grid": list(layer.grid_shape),
                "strength": grid(layer.strength),
                "top_channels": channels(layer.top, "mean_activation"),
                "cells": list(layer.cells),
                "cell_strength": grid(layer.cell_strength),
                "cell_top_channels": cell_top_channels(layer),
                "groups": [
                    {"share": frame.number(g.share), "channels": _top_weights(g.weights), "map": grid(g.map)}
                    for g in layer.groups
                ],
                "explained_variance": frame.number(layer.explained_variance),
                "attribution": grid(layer.attribution),
                "grad_cam": grid(layer.grad_cam),
                "faithfulness": faithfulness_numbers(layer),
                "attributing_channels": channels(layer.attributing, "contribution"),
            }
            for layer in explanation.layers
        ],
        "concepts": None
        if explanation.concepts is None
        else {
            **_concepts_summary(explanation.concepts),
            "concepts": [
                {
                    "concept": c.concept,
                    "contribution": frame.number(c.contribution),
                    "share": frame.number(c.share),
                    "render_score": c.render.score,
                    "map": grid(c.map),
                }
                for c in explanation.concepts.concepts
            ],
        },
    }


def _concepts_summary(concepts: PhotoConcepts) -> dict[str, Any]:
    """What the record and the page say of the dictionary and of all its concepts together."""
    return {
        "method": concepts.method,
        "layer": concepts.layer,
        "fingerprint": concepts.fingerprint,
        "size": concepts.size,
        "grid": list(concepts.grid_shape),
        "total_contribution": frame.number(concepts.total),
        "positive_contribution": frame.number(concepts.positive),
    }


def cell_top_channels(layer: LayerExplanation, count: int = CELL_CHANNELS) -> list[list[dict[str, Any]]]:
    """Per activation-grid cell (row by row), its ``count`` channels of highest mean activation
    in the cell: ``[{"channel": c, "value": v}, ...]``, highest first."""
    best = layer.cell_vectors.topk(min(count, layer.cell_vectors.shape[1]), dim=1)
    return [
        [{"channel": int(c), "value": frame.number(float(v))} for v, c in zip(values, indices, strict=True)]
        for values, indices in zip(best.values, best.indices, strict=True)
    ]


def faithfulness_numbers(layer: LayerExplanation) -> dict[str, dict[str, Any]]:
    """The deletion / insertion numbers of the layer's maps, by map (``"grad_cam"``,
    ``"attribution"``; a map not measured is absent): everything of
    :meth:`~featviz.analysis.faithfulness.Faithfulness.to_dict` (NaN as None), and

    - ``span``: the target's probability on the photo minus on the baseline (the curves' ends),
      in absolute value; below :data:`FAITHFUL_MIN_SPAN` the curves decide nothing;
    - ``beats_random``: ``{"deletion": the map's deletion area is below the random orders' by at
      least :data:`FAITHFUL_MARGIN` of the span, "insertion": its insertion area above theirs by
      as much}`` (both False with no random orders or too small a span);
    - ``constant_map``: the map has one value everywhere, so it ranks nothing (its order is the
      raster order) and its areas say nothing about it.
    """
    found = {}
    for name, result, saliency in (
        ("grad_cam", layer.grad_cam_faithfulness, layer.grad_cam),
        ("attribution", layer.attribution_faithfulness, layer.attribution),
    ):
        if result is not None:
            found[name] = _faithfulness_entry(result, saliency)
    return found


def _faithfulness_entry(result: Faithfulness, saliency: torch.Tensor) -> dict[str, Any]:
    def plain(value: object) -> object:
        if isinstance(value, float):
            return frame.number(value)
        if isinstance(value, list):
            return [frame.number(v) for v in value]
        return value

    entry = {key: plain(value) for key, value in result.to_dict().items()}
    span = abs(result.deletion[0] - result.deletion[-1])
    margin = FAITHFUL_MARGIN * span if span >= FAITHFUL_MIN_SPAN else float("inf")
    entry["span"] = frame.number(span)
    # a comparison with NaN (no random orders) is False: no claim without a baseline
    entry["beats_random"] = {
        "deletion": result.random_deletion_auc - result.deletion_auc >= margin,
        "insertion": result.insertion_auc - result.random_insertion_auc >= margin,
    }
    entry["constant_map"] = bool(saliency.max() == saliency.min())
    return entry


def _start(explanation: ExplanationData) -> dict[str, float]:
    """Where the page's pointer starts, as fractions of the photo: the peak of the deepest
    layer's Grad-CAM (the place the class rests on most), or its strength where that is flat."""
    if not explanation.layers:
        return {"x": 0.5, "y": 0.5}
    deepest = explanation.layers[-1]
    values = deepest.grad_cam if float(deepest.grad_cam.max()) > 0 else deepest.strength
    height, width = values.shape
    row, col = divmod(int(values.flatten().argmax()), width)
    return {"x": round((col + 0.5) / width, 4), "y": round((row + 0.5) / height, 4)}


def _top_weights(weights: torch.Tensor, count: int = 5) -> list[dict[str, float | int | None]]:
    best = weights.topk(min(count, weights.numel()))
    return [
        {"channel": int(i), "weight": frame.number(float(w))}
        for w, i in zip(best.values, best.indices, strict=True)
    ]


def _subtitle(explanation: ExplanationData) -> str:
    settings = explanation.settings
    parts = [
        f"renders: {settings.get('steps')} steps at {settings.get('size')} px, seed {settings.get('seed')}",
        f"{explanation.rendered} rendered, {explanation.reused} from the cache",
        f"{explanation.seconds:.1f} s",
    ]
    if explanation.rendering:
        parts.append("renders in progress: the page reloads itself as they finish")
    elif explanation.interrupted:
        parts.append("interrupted: some renders are missing")
    return " · ".join(parts)


# -- a notebook's view ---------------------------------------------------------------------------

_MAP_NAMES = {"grad_cam": "Grad-CAM", "attribution": "gradient × activation"}


def faithfulness_text(entry: dict[str, Any]) -> str:
    """One line for a person: a map's deletion and insertion areas against random orders, and
    whether to believe it."""
    if entry["constant_map"]:
        return "the map is flat: it ranks nothing"
    if entry["span"] is None or entry["span"] < FAITHFUL_MIN_SPAN:
        return "the blurred photo is classed as the photo is: no verdict"
    beats = entry["beats_random"]
    verdict = (
        "better than random on both: believable"
        if beats["deletion"] and beats["insertion"]
        else "better than random on deletion only: with care"
        if beats["deletion"]
        else "better than random on insertion only: with care"
        if beats["insertion"]
        else "no better than random: do not rely on it"
    )

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return (
        f"deletion {number(entry['deletion_auc'])} (random {number(entry['random_deletion_auc'])}, "
        f"lower is better), insertion {number(entry['insertion_auc'])} (random "
        f"{number(entry['random_insertion_auc'])}, higher is better): {verdict}"
    )


def notebook_html(explanation: ExplanationData) -> str:
    """A compact static view for notebooks: predictions, the colour scales, and per layer its
    maps (labelled), which map to believe, and its top channels' renders (every string as
    text, through the page kit; images inline)."""
    e = html.element
    photo = explanation.photo

    def img(image: torch.Tensor | None, title: str, width: int | None = 112) -> str:
        if image is None:
            return e("span", "(not rendered)", title=title)
        png = imaging.png_bytes(imaging.to_pil(image.float().clamp(0, 1), alpha=False))
        return html.image(png, title, width)

    def faithfulness(layer: LayerExplanation) -> str:
        measured = faithfulness_numbers(layer)
        if not measured:
            return e("td", "not measured")
        return e("td", *(e("div", f"{_MAP_NAMES[k]}: {faithfulness_text(v)}") for k, v in measured.items()))

    predictions = ", ".join(f"{name} ({p:.2f})" for _, name, p in explanation.predictions[:3])
    legends = e(
        "div",
        "Colour scales of the maps: strength and Grad-CAM ",
        img(legend(signed=False), "strength scale: none to the map's peak", None),
        " none → the map's peak; gradient × activation ",
        img(legend(signed=True), "signed scale: against the class, 0, for the class", None),
        f" against {explanation.target_name} ← 0 → for it.",
    )
    names = (
        "layer",
        "activation strength (map)",
        "Grad-CAM (map)",
        "gradient × activation (map)",
        "which map to believe (deletion / insertion)",
        "top channels (renders)",
    )
    header = e("tr", *(e("th", name) for name in names))
    rows = [
        e(
            "tr",
            e("td", layer.layer),
            e("td", img(overlay(photo, layer.strength), "map: activation strength")),
            e("td", img(overlay(photo, layer.grad_cam), "map: Grad-CAM")),
            e("td", img(overlay(photo, layer.attribution, signed=True), "map: gradient × activation")),
            faithfulness(layer),
            e("td", *(img(c.render.image, f"render: {layer.layer}:{c.channel}") for c in layer.top)),
        )
        for layer in explanation.layers
    ]
    return e(
        "div",
        e("b", explanation.model),
        f" on {explanation.source}: {predictions}; the maps are for {explanation.target_name} "
        f"({explanation.target}).",
        legends,
        e("table", header, *rows),
        ""
        if explanation.concepts is None
        else _notebook_concepts(explanation.concepts, photo, explanation.target_name, img),
    )


def _notebook_concepts(
    concepts: PhotoConcepts,
    photo: torch.Tensor,
    target_name: str,
    img: Callable[[torch.Tensor | None, str], str],
) -> str:
    """The notebook's "Concepts in this photo": per concept its contribution, render and map."""
    e = html.element
    header = e("tr", *(e("th", name) for name in ("concept", "contribution (share)", "render", "map")))
    rows = [
        e(
            "tr",
            e("td", str(c.concept)),
            e("td", f"{c.contribution:.4g} ({100 * c.share:.1f} %)"),
            e("td", img(c.render.image, f"render: {concepts.layer} concept {c.concept}")),
            e("td", img(overlay(photo, c.map), f"map: {concepts.layer} concept {c.concept}")),
        )
        for c in concepts.concepts
    ]
    return e(
        "div",
        e("h4", "Concepts in this photo"),
        e("p", _CONCEPTS_HOW.format(layer=concepts.layer, target=target_name)),
        e(
            "p",
            f"{concepts.method.upper()} dictionary of {concepts.size} concepts at {concepts.layer}; all "
            f"of them add {concepts.total:.4g} to the score, those that add to it "
            f"{concepts.positive:.4g}. Maps on the strength scale.",
        ),
        e("table", header, *rows) if rows else e("p", f"No concept adds to {target_name} here."),
    )


# The how-to-read of the concepts (the notebook's; page.js has the page's, in the same words).
_CONCEPTS_HOW = (
    "A concept is a direction in {layer}'s activation space, learned from many photos: each place's "
    "activation vector is read as a non-negative mix of the dictionary's concepts. A concept's render "
    "is a picture made to excite its direction (what it looks like to the model); its map is how much "
    "of it is at each place of the photo (its code, scaled to its own peak). Its contribution is "
    "gradient x concept activation, summed over the photo: how much it adds to the score of "
    "{target}; the share is its part of what all the concepts that add to the class add together."
)


# Static markup only: every string from the model or the user is set from the JSON data with
# textContent by page.css and page.js (beside this module), after the page kit's kit.css and kit.js.
_BODY = """<header>
  <h1 id="title"></h1>
  <div class="sub" id="subtitle"></div>
  <div class="warn" id="interrupted"></div>
</header>
<section id="point">
<h2>Point at the photo: what each layer sees there</h2>
<p class="how">Move the pointer over the photo (click to pin a place, then the arrow keys move
it). Each row below is one layer, shallow to deep: the <b>render</b> of the activation-grid cell
under the pointer (a picture made to excite that cell's activation vector: what the layer sees
there), and the channels that fire most in that cell with their values (the bars compare the
channels of one cell; a small picture is the channel's own render, where the report has one).
The maps use the colour scales beside the photo.</p>
<div class="row">
  <figure class="photo"><div id="photo-frame" tabindex="0"><img id="photo" alt="the photo">
  <div id="marker"></div></div><figcaption id="photo-caption"></figcaption></figure>
  <div id="legends"></div>
  <div><h3>Top classes</h3><ol id="predictions"></ol><div id="target"></div></div>
</div>
<div class="sub" id="at"></div>
<div id="blocks"></div>
</section>
<section id="believe">
<h2>Which map to believe: deletion and insertion</h2>
<p class="how">An attribution map orders the photo's pixels, most important first. <b>Deletion</b>
blurs them away in that order and follows the probability of the class: a map that points at the
evidence makes it fall fast, so a <b>lower</b> area under the curve (AUC) is better.
<b>Insertion</b> starts from the blurred photo and puts the pixels back in the same order: the
probability should rise fast, so a <b>higher</b> AUC is better. Random pixel orders give what
chance does. Believe a map that clearly beats the random orders on both (the verdict column);
between layers, prefer the larger insertion &minus; deletion (Petsiuk et al. 2018, RISE).</p>
<div id="faithfulness"></div>
</section>
<div id="concepts"></div>
<h2>Evolution with depth: each layer's top channel on this photo</h2>
<p class="how">Per layer, the channel with the highest mean activation on the photo: its render
(what the channel responds to) and its map (where it fires on the photo, strength scale).</p>
<div class="row" id="evolution"></div>
<div id="layers"></div>"""


__all__ = [
    "write_report",
    "numbers",
    "notebook_html",
    "overlay",
    "colour_scale",
    "diverging_scale",
    "legend",
    "grid_mosaic",
    "cell_top_channels",
    "faithfulness_numbers",
    "faithfulness_text",
]
