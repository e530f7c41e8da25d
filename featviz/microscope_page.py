"""The microscope's pages: an index of layers with a search box, a page per layer, a page per unit.

Every page is written through :func:`featviz.html.page` (self-contained, nothing loaded from
elsewhere, strings as text only). Page and image names are made from indices, so a link never
carries a string from the model; layer names and photo names travel as JSON data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featviz import html, io

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
h1 { font-size: 20px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 18px 0 6px; }
nav { font-size: 13px; margin-bottom: 8px; } nav a { margin-right: 12px; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
#grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 8px; }
.tile { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 3px; display: block;
        color: inherit; text-decoration: none; }
.tile img { width: 100%; display: block; } .tile span { font-size: 12px; }
.row { display: flex; gap: 8px; flex-wrap: wrap; align-items: flex-start; }
figure { margin: 0; } figure img { width: 180px; display: block; border: 1px solid #ddd; }
figure.small img { width: 112px; }
figcaption { font-size: 12px; max-width: 180px; overflow-wrap: anywhere; }
.neg img { outline: 2px solid #c33; outline-offset: -2px; }
#message { color: #a30; margin-left: 8px; }
"""

_COMMON = (
    html.READ_DATA_JS
    + html.ELEMENT_JS
    + """const data = readData();
function link(href, text) {
  const a = element("a", "", text);
  a.href = href;
  return a;
}
function picture(file, alt) {
  const img = document.createElement("img");
  img.src = file;
  img.alt = alt;
  img.title = alt;
  return img;
}
function pad(number, width) { return String(number).padStart(width, "0"); }
function unitPage(layerIndex, channel) {
  return "unit_" + pad(layerIndex, 2) + "_" + pad(channel, 4) + ".html";
}
function layerPage(layerIndex) { return "layer_" + pad(layerIndex, 2) + ".html"; }
document.title = data.title;
document.getElementById("title").textContent = data.title;
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.documentElement.dataset.imagesLoaded = loaded + "/" + images.length;
});
"""
)

_INDEX_BODY = """<h1 id="title"></h1>
<form id="search"><label>find a unit <input id="query" placeholder="layer:channel" size="28"></label>
<button type="submit">go</button><span id="message"></span></form>
<h2>Layers</h2>
<table><thead><tr><th>depth</th><th>layer</th><th>type</th><th>layout</th><th>channels</th>
<th>grid</th><th>units shown</th><th>activation atlas</th></tr></thead><tbody id="layers"></tbody></table>"""

_INDEX_SCRIPT = (
    _COMMON
    + """const rows = document.getElementById("layers");
for (const layer of data.layers) {
  const tr = document.createElement("tr");
  tr.appendChild(element("td", "", String(layer.index)));
  const name = element("td");
  name.appendChild(link(layerPage(layer.index), layer.layer));
  tr.appendChild(name);
  for (const text of [layer.type, layer.layout, String(layer.channels), layer.grid.join("x") || "-",
                      String(layer.units.length)]) tr.appendChild(element("td", "", text));
  const space = element("td");
  const atlasLink = layer.activation_atlas ? link(layer.activation_atlas, "atlas") : element("span", "", "-");
  space.appendChild(atlasLink);
  tr.appendChild(space);
  rows.appendChild(tr);
}
function find(query) {
  const cut = query.lastIndexOf(":");
  if (cut < 1) return null;
  const name = query.slice(0, cut).trim();
  const channel = Number(query.slice(cut + 1).trim());
  const layer = data.layers.find((l) => l.layer === name);
  if (!layer || !Number.isInteger(channel)) return null;
  return layer.units.some((u) => u.channel === channel) ? unitPage(layer.index, channel) : null;
}
document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = document.getElementById("query").value;
  const target = find(query);
  document.getElementById("message").textContent = target ? "" : "no such unit in this microscope: " + query;
  if (target) window.location.href = target;
});
"""
)

_LAYER_BODY = """<nav><a href="index.html">all layers</a><span id="neighbours"></span></nav>
<h1 id="title"></h1>
<label>sort by <select id="sort"><option value="channel">channel</option>
<option value="score">score (high first)</option></select></label>
<div id="grid"></div>"""

_LAYER_SCRIPT = (
    _COMMON
    + """const layer = data.layer;
const neighbours = document.getElementById("neighbours");
for (const [index, text] of [[data.previous, "previous layer"], [data.next, "next layer"]]) {
  if (index !== null) neighbours.appendChild(link(layerPage(index), text));
}
if (layer.activation_atlas) neighbours.appendChild(link(layer.activation_atlas, "activation atlas"));
function tile(unit) {
  const a = link(unitPage(layer.index, unit.channel));
  a.className = "tile";
  a.appendChild(picture(unit.file, layer.layer + ":" + unit.channel));
  const score = unit.score === null ? "n/a" : unit.score.toPrecision(3);
  a.appendChild(element("span", "", unit.channel + " · " + score));
  return a;
}
function draw() {
  const byScore = document.getElementById("sort").value === "score";
  const units = layer.units.slice().sort(
    (a, b) => byScore ? (b.score || 0) - (a.score || 0) : a.channel - b.channel);
  document.getElementById("grid").replaceChildren(...units.map(tile));
}
document.getElementById("sort").addEventListener("change", draw);
draw();
"""
)

_UNIT_BODY = """<nav><a href="index.html">all layers</a><a id="up">this layer</a>
<span id="neighbours"></span></nav>
<h1 id="title"></h1>
<h2>Renders</h2><div class="row" id="renders"></div>
<h2>Dataset exemplars</h2><div class="row" id="exemplars"></div>
<h2>Classes its render raises most</h2><ol id="classes"></ol>
<h2>Units of the layer below that excite it most</h2><ol id="below"></ol>"""

_UNIT_SCRIPT = (
    _COMMON
    + """const unit = data.unit;
document.getElementById("up").href = layerPage(data.layer_index);
document.getElementById("up").textContent = data.layer + " (all units)";
const neighbours = document.getElementById("neighbours");
for (const [channel, text] of [[data.previous, "previous unit"], [data.next, "next unit"]]) {
  if (channel !== null) neighbours.appendChild(link(unitPage(data.layer_index, channel), text));
}
function figure(file, caption, className) {
  const fig = element("figure", className);
  fig.appendChild(picture(file, caption));
  fig.appendChild(element("figcaption", "", caption));
  return fig;
}
const renders = document.getElementById("renders");
const score = unit.score === null ? "n/a" : unit.score.toPrecision(4);
unit.renders.forEach((file, i) => {
  renders.appendChild(figure(file, i ? "render " + (i + 1) : "render (score " + score + ")"));
});
if (unit.negative) renders.appendChild(figure(unit.negative, "negative: minimizes it", "neg"));
const exemplars = document.getElementById("exemplars");
if (!unit.exemplars.length) exemplars.textContent = "none (make the microscope with examples=)";
unit.exemplars.forEach((file, i) => {
  exemplars.appendChild(figure(file, unit.exemplar_sources[i] || "", "small"));
});
const classes = document.getElementById("classes");
for (const c of unit.classes || []) {
  classes.appendChild(element("li", "", c.name + " (" + c.class + "): +" + c.raised));
}
const below = document.getElementById("below");
if (data.below_index === null) below.appendChild(element("li", "", "the first layer shown has none"));
for (const b of unit.below || []) {
  const li = element("li");
  const text = data.below_layer + ":" + b.channel + " (gradient x activation " + b.contribution + ")";
  li.appendChild(b.rendered ? link(unitPage(data.below_index, b.channel), text) : element("span", "", text));
  below.appendChild(li);
}
"""
)


def write_site(out: Path, record: dict[str, Any]) -> Path:
    """Write every page of the microscope; returns the index page."""
    model = str(record["model"])
    layers = record["layers"]
    index = html.page(
        f"featviz microscope: {model}",
        _INDEX_BODY,
        script=_INDEX_SCRIPT,
        style=_STYLE,
        data={"title": f"{model}: {len(layers)} layers", "layers": layers},
    )
    for position, layer in enumerate(layers):
        neighbours = {
            "previous": layers[position - 1]["index"] if position > 0 else None,
            "next": layers[position + 1]["index"] if position + 1 < len(layers) else None,
        }
        page = html.page(
            f"featviz microscope: {model} · {layer['layer']}",
            _LAYER_BODY,
            script=_LAYER_SCRIPT,
            style=_STYLE,
            data={"title": f"{model} · {layer['layer']}", "layer": layer, **neighbours},
        )
        io.write_text(page, out / f"layer_{layer['index']:02d}.html")
        below = layers[position - 1] if position > 0 else None
        units = layer["units"]
        for k, unit in enumerate(units):
            data = {
                "title": f"{model} · {layer['layer']}:{unit['channel']}",
                "layer": layer["layer"],
                "layer_index": layer["index"],
                "below_layer": below["layer"] if below else None,
                "below_index": below["index"] if below else None,
                "previous": units[k - 1]["channel"] if k > 0 else None,
                "next": units[k + 1]["channel"] if k + 1 < len(units) else None,
                "unit": unit,
            }
            page = html.page(data["title"], _UNIT_BODY, script=_UNIT_SCRIPT, style=_STYLE, data=data)
            io.write_text(page, out / f"unit_{layer['index']:02d}_{unit['channel']:04d}.html")
    return io.write_text(index, out / "index.html")


__all__ = ["write_site"]
