"""The report of an explanation: ``index.html`` (self-contained, safe to share), PNGs, JSON.

``Explanation.save(folder)`` writes::

    folder/
      index.html          the report: predictions, evolution with depth, then one section per layer
      explanation.json    every number (maps as nested lists), the settings, what each PNG shows
      photo.jpg           the photo as the model saw it
      l<i>_*.jpg          per layer i: maps over the photo, the activation grid, the renders
                          (JPEG: photographs and renders alike; a report stays a few MB)

File names are made from indices only; every string from the model, the photo's name or the user
reaches the page as JSON data shown with ``textContent`` (:mod:`featviz.reports.pagekit`). Maps are drawn
over the photo with a colour scale written here (no plotting library).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from featviz import files, imaging
from featviz.reports import frame
from featviz.reports import pagekit as html
from featviz.reports.explanation.record import Channel, ExplanationData, LayerExplanation

# An "inferno"-like scale from dark (weak) to bright yellow (strong): anchor colours, linear between.
_SCALE = (
    torch.tensor(
        [
            [0, 0, 4],
            [40, 11, 84],
            [101, 21, 110],
            [159, 42, 99],
            [212, 72, 66],
            [245, 125, 21],
            [250, 193, 39],
            [252, 255, 164],
        ],
        dtype=torch.float32,
    )
    / 255
)
#: While renders are still being made, the page reloads itself this often (seconds).
RELOAD_SECONDS = 15
_POSITIVE = torch.tensor([0.84, 0.15, 0.16])
_NEGATIVE = torch.tensor([0.13, 0.40, 0.80])


def colour_scale(values: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` values in [0, 1] → ``(3, H, W)`` colours on the report's scale."""
    position = values.clamp(0, 1) * (len(_SCALE) - 1)
    low = position.floor().long().clamp(max=len(_SCALE) - 2)
    frac = (position - low.float())[..., None]
    colours = _SCALE[low] * (1 - frac) + _SCALE[low + 1] * frac
    return colours.permute(2, 0, 1)


def overlay(photo: torch.Tensor, values: torch.Tensor, signed: bool = False) -> torch.Tensor:
    """A map over the layer's grid drawn over the photo (``(3, H, W)`` in [0, 1]).

    Unsigned maps are scaled by their maximum and coloured on the report's scale, half over a
    dimmed photo; signed maps (attribution) show positive red and negative blue, by their
    largest magnitude, over the photo.
    """
    size = photo.shape[-2:]
    values = values.detach().float().cpu()
    up = F.interpolate(values[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    if signed:
        peak = float(up.abs().max())
        scaled = up / peak if peak > 0 else up
        strength = scaled.abs()[None] * 0.75
        colour = torch.where(scaled[None] >= 0, _POSITIVE[:, None, None], _NEGATIVE[:, None, None])
        return (photo * (1 - strength) + colour * strength).clamp(0, 1)
    positive = up.clamp(min=0)
    peak = float(positive.max())
    scaled = positive / peak if peak > 0 else positive
    return (photo * 0.4 + colour_scale(scaled) * 0.6).clamp(0, 1)


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
    layers = []
    for i, layer in enumerate(explanation.layers):
        prefix = f"l{i}_"

        def channel_entries(channels: list[Channel], kind: str, prefix: str = prefix) -> list[dict[str, Any]]:
            return [
                {
                    "channel": c.channel,
                    "value": frame.number(c.value),
                    "render": pictures.image(f"{prefix}{kind}{j}.jpg", c.render.image),
                    "map": pictures.image(f"{prefix}{kind}{j}_map.jpg", overlay(photo, c.map)),
                    "score": c.render.score,
                }
                for j, c in enumerate(channels)
            ]

        cell_px = max(48, min(96, 480 // max(layer.cells)))
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
                "grad_cam": pictures.image(f"{prefix}gradcam.jpg", overlay(photo, layer.grad_cam)),
                "attribution": pictures.image(
                    f"{prefix}attribution.jpg", overlay(photo, layer.attribution, signed=True)
                ),
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
                "attributing": channel_entries(layer.attributing, "attr"),
            }
        )
    data = {
        "title": f"{explanation.model} · {explanation.source}",
        "model": explanation.model,
        "source": explanation.source,
        "photo": "photo.jpg",
        "predictions": [
            {"class": c, "name": name, "probability": frame.number(p)}
            for c, name, p in explanation.predictions
        ],
        "target": explanation.target,
        "target_name": explanation.target_name,
        "subtitle": _subtitle(explanation),
        "interrupted": explanation.interrupted,
        "rendering": explanation.rendering,
        "layers": layers,
    }
    record = numbers(explanation)
    record["files"] = {"photo": "photo.jpg", "layers": layers}
    frame.write_record(record, out / "explanation.json")
    js, css = html.asset(__package__, "page.js"), html.asset(__package__, "page.css")
    refresh = RELOAD_SECONDS if explanation.rendering else None
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
                "groups": [
                    {"share": frame.number(g.share), "channels": _top_weights(g.weights), "map": grid(g.map)}
                    for g in layer.groups
                ],
                "explained_variance": frame.number(layer.explained_variance),
                "attribution": grid(layer.attribution),
                "grad_cam": grid(layer.grad_cam),
                "attributing_channels": channels(layer.attributing, "contribution"),
            }
            for layer in explanation.layers
        ],
    }


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


def notebook_html(explanation: ExplanationData) -> str:
    """A compact static view for notebooks: predictions, and per layer its maps and top renders
    (every string as text, through the page kit; images inline)."""
    e = html.element
    photo = explanation.photo

    def img(image: torch.Tensor | None, title: str) -> str:
        if image is None:
            return e("span", "(not rendered)", title=title)
        return html.image(imaging.png_bytes(imaging.to_pil(image.float().clamp(0, 1), alpha=False)), title)

    predictions = ", ".join(f"{name} ({p:.2f})" for _, name, p in explanation.predictions[:3])
    header = e("tr", *(e("th", name) for name in ("layer", "strength", "Grad-CAM", "top channels")))
    rows = [
        e(
            "tr",
            e("td", layer.layer),
            e("td", img(overlay(photo, layer.strength), "strength")),
            e("td", img(overlay(photo, layer.grad_cam), "Grad-CAM")),
            e("td", *(img(c.render.image, f"{layer.layer}:{c.channel}") for c in layer.top)),
        )
        for layer in explanation.layers
    ]
    return e(
        "div",
        e("b", explanation.model),
        f" on {explanation.source}: {predictions}",
        e("table", header, *rows),
    )


# Static markup only: every string from the model or the user is set from the JSON data with
# textContent by page.css and page.js (beside this module), after the page kit's kit.css and kit.js.
_BODY = """<header>
  <h1 id="title"></h1>
  <div class="sub" id="subtitle"></div>
  <div class="warn" id="interrupted"></div>
</header>
<div class="row">
  <figure class="big"><img id="photo" alt="the photo"><figcaption id="photo-caption"></figcaption></figure>
  <div><h3>Top classes</h3><ol id="predictions"></ol><div id="target"></div></div>
</div>
<h2>Evolution with depth: each layer's top channel on this photo</h2>
<div class="row" id="evolution"></div>
<div id="layers"></div>"""


__all__ = ["write_report", "numbers", "notebook_html", "overlay", "colour_scale", "grid_mosaic"]
