"""The report of an explanation: ``index.html`` (self-contained, safe to share), PNGs, JSON.

``Explanation.save(folder)`` writes::

    folder/
      index.html          the report: predictions, evolution with depth, then one section per layer
      explanation.json    every number (maps as nested lists), the settings, what each PNG shows
      photo.jpg           the photo as the model saw it
      l<i>_*.jpg          per layer i: maps over the photo, the activation grid, the renders
                          (JPEG: photographs and renders alike; a report stays a few MB)

File names are made from indices only; every string from the model, the photo's name or the user
reaches the page as JSON data shown with ``textContent`` (:mod:`featviz.html`). Maps are drawn
over the photo with a colour scale written here (no plotting library).
"""

from __future__ import annotations

import base64
import html as _html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from featviz import html, io

if TYPE_CHECKING:  # pragma: no cover
    from featviz.explanation import Channel, Explanation, LayerExplanation, Render

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
        io.save_image(io.to_pil(image.detach().float().cpu().clamp(0, 1), alpha=False), self.out / name)
        return name


def write_report(explanation: Explanation, out: Path) -> Path:
    """Write the report of ``explanation`` into ``out``; returns ``out/index.html``."""
    import json

    files = _Files(out)
    photo = explanation.photo
    files.image("photo.jpg", photo)
    layers = []
    for i, layer in enumerate(explanation.layers):
        prefix = f"l{i}_"

        def channel_entries(channels: list[Channel], kind: str, prefix: str = prefix) -> list[dict[str, Any]]:
            return [
                {
                    "channel": c.channel,
                    "value": _number(c.value),
                    "render": files.image(f"{prefix}{kind}{j}.jpg", c.render.image),
                    "map": files.image(f"{prefix}{kind}{j}_map.jpg", overlay(photo, c.map)),
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
                "strength": files.image(f"{prefix}strength.jpg", overlay(photo, layer.strength)),
                "activation_grid": files.image(f"{prefix}grid.jpg", grid_mosaic(layer, cell_px)),
                "cells_rendered": sum(1 for c in layer.cell_renders if c is not None and c.image is not None),
                "cells_total": sum(1 for c in layer.cell_renders if c is not None),
                "grad_cam": files.image(f"{prefix}gradcam.jpg", overlay(photo, layer.grad_cam)),
                "attribution": files.image(
                    f"{prefix}attribution.jpg", overlay(photo, layer.attribution, signed=True)
                ),
                "top": channel_entries(layer.top, "top"),
                "groups": [
                    {
                        "share": _number(g.share),
                        "map": files.image(f"{prefix}group{j}_map.jpg", overlay(photo, g.map)),
                        "render": files.image(f"{prefix}group{j}.jpg", g.render.image),
                        "channels": _top_weights(g.weights),
                    }
                    for j, g in enumerate(layer.groups)
                ],
                "explained_variance": _number(layer.explained_variance),
                "attributing": channel_entries(layer.attributing, "attr"),
            }
        )
    data = {
        "title": f"{explanation.model} · {explanation.source}",
        "model": explanation.model,
        "source": explanation.source,
        "photo": "photo.jpg",
        "predictions": [
            {"class": c, "name": name, "probability": _number(p)} for c, name, p in explanation.predictions
        ],
        "target": explanation.target,
        "target_name": explanation.target_name,
        "subtitle": _subtitle(explanation),
        "interrupted": explanation.interrupted,
        "layers": layers,
    }
    record = numbers(explanation)
    record["files"] = {"photo": "photo.jpg", "layers": layers}
    io.write_text(json.dumps(record, indent=1, allow_nan=False), out / "explanation.json")
    page = html.page(f"featviz explanation: {data['title']}", _BODY, script=_SCRIPT, style=_STYLE, data=data)
    return io.write_text(page, out / "index.html")


def numbers(explanation: Explanation) -> dict[str, Any]:
    """Every number of the explanation as plain JSON data (NaN as None)."""
    from featviz import __version__

    def grid(values: torch.Tensor) -> list[list[float | None]]:
        return [[_number(v) for v in row] for row in values.tolist()]

    def channels(items: list[Channel], value: str) -> list[dict[str, Any]]:
        return [
            {"channel": c.channel, value: _number(c.value), "render_score": c.render.score} for c in items
        ]

    return {
        "model": explanation.model,
        "source": explanation.source,
        "predictions": [
            {"class": c, "name": name, "probability": _number(p)} for c, name, p in explanation.predictions
        ],
        "target": explanation.target,
        "target_name": explanation.target_name,
        "settings": explanation.settings,
        "seconds": round(explanation.seconds, 2),
        "renders_made": explanation.rendered,
        "renders_reused": explanation.reused,
        "interrupted": explanation.interrupted,
        "featviz": __version__,
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
                    {"share": _number(g.share), "channels": _top_weights(g.weights), "map": grid(g.map)}
                    for g in layer.groups
                ],
                "explained_variance": _number(layer.explained_variance),
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
        {"channel": int(i), "weight": _number(float(w))}
        for w, i in zip(best.values, best.indices, strict=True)
    ]


def _number(value: float) -> float | None:
    value = float(value)
    return round(value, 5) if math.isfinite(value) else None


def _subtitle(explanation: Explanation) -> str:
    settings = explanation.settings
    parts = [
        f"renders: {settings.get('steps')} steps at {settings.get('size')} px, seed {settings.get('seed')}",
        f"{explanation.rendered} rendered, {explanation.reused} from the cache",
        f"{explanation.seconds:.1f} s",
    ]
    if explanation.interrupted:
        parts.append("interrupted: some renders are missing")
    return " · ".join(parts)


# -- a notebook's view ---------------------------------------------------------------------------


def notebook_html(explanation: Explanation) -> str:
    """A compact static view for notebooks: predictions, and per layer its maps and top renders.
    Every string is HTML-escaped; images are inline PNGs."""
    photo = explanation.photo

    def img(image: torch.Tensor | None, title: str) -> str:
        if image is None:
            return f'<span title="{_esc(title)}">(not rendered)</span>'
        data = base64.b64encode(io.png_bytes(io.to_pil(image.float().clamp(0, 1), alpha=False))).decode()
        return (
            f'<img src="data:image/png;base64,{data}" width="112" title="{_esc(title)}" alt="{_esc(title)}">'
        )

    def render_img(r: Render, title: str) -> str:
        return img(r.image, title)

    predictions = ", ".join(f"{_esc(name)} ({p:.2f})" for _, name, p in explanation.predictions[:3])
    rows = [
        f"<b>{_esc(explanation.model)}</b> on {_esc(explanation.source)}: {predictions}",
        "<table><tr><th>layer</th><th>strength</th><th>Grad-CAM</th><th>top channels</th></tr>",
    ]
    for layer in explanation.layers:
        tops = "".join(render_img(c.render, f"{layer.layer}:{c.channel}") for c in layer.top)
        rows.append(
            f"<tr><td>{_esc(layer.layer)}</td><td>{img(overlay(photo, layer.strength), 'strength')}</td>"
            f"<td>{img(overlay(photo, layer.grad_cam), 'Grad-CAM')}</td><td>{tops}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _esc(text: object) -> str:
    return _html.escape(str(text), quote=True)


_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 24px 0 6px; }
h3 { font-size: 14px; margin: 12px 0 4px; color: #444; }
.sub { color: #555; font-size: 12px; } .warn { color: #a40; font-weight: bold; }
.row { display: flex; gap: 10px; flex-wrap: wrap; align-items: flex-start; }
figure { margin: 0; display: flex; flex-direction: column; gap: 2px; }
figure img { width: 160px; height: 160px; object-fit: contain; display: block; background: #fff;
             border: 1px solid #ddd; }
figure.big img { width: 300px; height: 300px; }
figure.pair .imgs { display: flex; gap: 2px; } figure.pair img { width: 112px; height: 112px; }
figcaption { font-size: 12px; color: #333; max-width: 300px; overflow-wrap: anywhere; }
ol { margin: 4px 0; padding-left: 20px; }
section { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 8px 12px;
          margin-top: 12px; }
.missing { width: 112px; height: 112px; display: flex; align-items: center; justify-content: center;
           background: #eee; color: #777; font-size: 11px; text-align: center; }
"""

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

_SCRIPT = (
    html.READ_DATA_JS
    + html.ELEMENT_JS
    + """const data = readData();
function picture(file, alt) {
  if (!file) return element("div", "missing", "not rendered");
  const img = document.createElement("img");
  img.src = file;
  img.alt = alt;
  img.title = alt;
  return img;
}
function figure(file, caption, className) {
  const fig = element("figure", className);
  fig.appendChild(picture(file, caption));
  fig.appendChild(element("figcaption", "", caption));
  return fig;
}
function pair(render, map, caption) {
  const fig = element("figure", "pair");
  const imgs = element("div", "imgs");
  imgs.appendChild(picture(render, "render: " + caption));
  imgs.appendChild(picture(map, "map: " + caption));
  fig.appendChild(imgs);
  fig.appendChild(element("figcaption", "", caption));
  return fig;
}
function fixed(value, digits) {
  return value === null ? "n/a" : value.toFixed(digits);
}
document.getElementById("title").textContent = data.title;
document.getElementById("subtitle").textContent = data.subtitle;
if (data.interrupted) document.getElementById("interrupted").textContent =
  "Stopped early: the renders not finished are marked; run the same command again to complete them.";
const photo = document.getElementById("photo");
photo.src = data.photo;
document.getElementById("photo-caption").textContent = data.source + " (as the model sees it)";
const predictions = document.getElementById("predictions");
for (const p of data.predictions) {
  predictions.appendChild(element("li", "", p.name + " (" + p.class + "): " + fixed(p.probability, 3)));
}
document.getElementById("target").textContent =
  "Attribution is for: " + data.target_name + " (" + data.target + ")";
const evolution = document.getElementById("evolution");
for (const layer of data.layers) {
  if (!layer.top.length) continue;
  const best = layer.top[0];
  evolution.appendChild(pair(best.render, best.map, layer.layer + ":" + best.channel));
}
const sections = document.getElementById("layers");
for (const layer of data.layers) {
  const section = element("section");
  section.appendChild(element("h2", "", layer.layer));
  section.appendChild(element("div", "sub",
    layer.channels + " channels on a " + layer.grid.join("x") + " grid; activation grid of " +
    layer.cells.join("x") + " cells (" + layer.cells_rendered + " of " + layer.cells_total + " rendered)"));
  const maps = element("div", "row");
  maps.appendChild(figure(layer.strength, "activation strength (norm per position)"));
  maps.appendChild(figure(layer.activation_grid, "activation grid: what each part of the layer sees", "big"));
  maps.appendChild(figure(layer.grad_cam, "Grad-CAM for " + data.target_name));
  maps.appendChild(figure(layer.attribution, "gradient x activation (red adds, blue takes away)"));
  section.appendChild(maps);
  section.appendChild(element("h3", "", "Semantic dictionary: top channels by mean activation"));
  const top = element("div", "row");
  for (const c of layer.top) {
    top.appendChild(pair(c.render, c.map, "channel " + c.channel + " · mean " + fixed(c.value, 3)));
  }
  section.appendChild(top);
  if (layer.groups.length) {
    section.appendChild(element("h3", "",
      "Neuron groups (NMF): together they explain " + fixed(layer.explained_variance * 100, 1) +
      "% of the variance of the positive activations"));
    const groups = element("div", "row");
    layer.groups.forEach((g, i) => {
      const mix = g.channels.map((c) => c.channel).join(", ");
      const caption = "group " + (i + 1) + " · " + fixed(g.share * 100, 1) + "% · channels " + mix;
      groups.appendChild(pair(g.render, g.map, caption));
    });
    section.appendChild(groups);
  }
  section.appendChild(element("h3", "",
    "Channels that add most to " + data.target_name + " (gradient x activation)"));
  const attributing = element("div", "row");
  for (const c of layer.attributing) {
    attributing.appendChild(pair(c.render, c.map, "channel " + c.channel + " · " + fixed(c.value, 4)));
  }
  section.appendChild(attributing);
  sections.appendChild(section);
}
// Status for scripts and tests: how many pictures actually decoded.
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.documentElement.dataset.imagesLoaded = loaded + "/" + images.length;
});
"""
)

__all__ = ["write_report", "numbers", "notebook_html", "overlay", "colour_scale", "grid_mosaic"]
