"""The atlas gallery: one self-contained ``index.html`` (no network, no CDN), safe to share.

Thumbnails are the atlas's own PNG files, referenced relatively; the page's data (title, channel,
score, exemplar files and the names of the photos they came from) is embedded as JSON and shown
as text only (:mod:`featviz.html`). Sort by channel or score; a tile shows the channel's further
renders (``renders=K``) and its negative (red outline) under its picture; click a tile to enlarge
it beside them and its dataset exemplars, each captioned with its source file name.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from featviz import html, io

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
header { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 18px; margin: 0; }
#grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
        gap: 10px; margin-top: 12px; }
.tile { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 4px; cursor: zoom-in; }
.tile img.vis { width: 100%; display: block; image-rendering: auto; }
/* transparent (RGBA) renders show over a checkerboard */
img.vis { background: repeating-conic-gradient(#bbb 0 25%, #eee 0 50%) 0 0 / 16px 16px; }
.tile .meta { display: flex; justify-content: space-between; font-size: 12px; padding: 2px; }
.ex { display: flex; gap: 2px; } .ex img { width: 25%; display: block; }
.ex img.neg { outline: 2px solid #c33; outline-offset: -2px; }
#overlay { position: fixed; inset: 0; background: rgba(0,0,0,.85); display: none; cursor: zoom-out;
           align-items: center; justify-content: center; gap: 16px; flex-wrap: wrap; }
#overlay.open { display: flex; }
#overlay > img { width: min(60vw, 80vh); height: auto; }
#overlay .side { color: #eee; display: flex; flex-direction: column; gap: 6px; max-height: 90vh;
                 overflow-y: auto; }
#overlay figure { margin: 0; display: flex; flex-direction: column; gap: 2px; }
#overlay figure img { max-width: 160px; display: block; }
#overlay figcaption { font-size: 11px; color: #ccc; max-width: 160px; overflow-wrap: anywhere; }
"""

# Static markup only: every string from the manifest is set from the JSON data with textContent.
_BODY = """<header>
  <h1 id="title"></h1>
  <span id="subtitle"></span>
  <label>sort by
    <select id="sort">
      <option value="channel">channel</option>
      <option value="score">score (high first)</option>
    </select>
  </label>
</header>
<div id="grid"></div>
<div id="overlay" title="click to close"></div>"""

# Elements are made with createElement and filled with textContent / properties; no string of
# HTML is ever parsed.
_SCRIPT = (
    html.READ_DATA_JS
    + html.ELEMENT_JS
    + """const data = readData();
const grid = document.getElementById("grid");
const overlay = document.getElementById("overlay");
document.getElementById("title").textContent = data.title;
document.getElementById("subtitle").textContent = data.subtitle;

function picture(file, alt, className) {
  const img = document.createElement("img");
  img.src = file;
  img.alt = alt;
  img.loading = "eager";
  if (className) img.className = className;
  return img;
}
function score(entry, digits) {
  return entry.score === null ? "n/a" : entry.score.toPrecision(digits);
}
function exemplars(entry) {
  return entry.exemplars.map((file, i) => ({ file: file, source: entry.exemplar_sources[i] || "" }));
}
function tile(entry) {
  const div = element("div", "tile");
  div.dataset.channel = String(entry.channel);
  div.appendChild(picture(entry.file, "channel " + entry.channel, "vis"));
  const meta = element("div", "meta");
  meta.appendChild(element("b", "", String(entry.channel)));
  meta.appendChild(element("span", "", "score " + score(entry, 3)));
  div.appendChild(meta);
  if (entry.renders.length > 1 || entry.negative) {
    const row = element("div", "ex");
    entry.renders.slice(1).forEach((file, i) => row.appendChild(picture(file, "render " + (i + 2), "vis")));
    if (entry.negative) {
      const img = picture(entry.negative, "negative: minimizes channel " + entry.channel, "vis neg");
      img.title = "negative (minimizes the channel)";
      row.appendChild(img);
    }
    div.appendChild(row);
  }
  if (entry.exemplars.length) {
    const row = element("div", "ex");
    for (const ex of exemplars(entry)) {
      const img = picture(ex.file, "exemplar from " + ex.source);
      img.title = ex.source;
      row.appendChild(img);
    }
    div.appendChild(row);
  }
  div.addEventListener("click", () => enlarge(entry));
  return div;
}
function enlarge(entry) {
  const side = element("div", "side");
  side.appendChild(element("b", "", "channel " + entry.channel));
  side.appendChild(element("span", "", "score " + score(entry, 4)));
  entry.renders.slice(1).forEach((file, i) => {
    const figure = element("figure");
    figure.appendChild(picture(file, "render " + (i + 2), "vis"));
    figure.appendChild(element("figcaption", "", "render " + (i + 2)));
    side.appendChild(figure);
  });
  if (entry.negative) {
    const figure = element("figure");
    figure.appendChild(picture(entry.negative, "negative", "vis"));
    figure.appendChild(element("figcaption", "", "negative (minimizes it)"));
    side.appendChild(figure);
  }
  for (const ex of exemplars(entry)) {
    const figure = element("figure");
    const img = picture(ex.file, "exemplar from " + ex.source);
    img.title = ex.source;
    figure.appendChild(img);
    figure.appendChild(element("figcaption", "", ex.source));
    side.appendChild(figure);
  }
  overlay.replaceChildren(picture(entry.file, "channel " + entry.channel, "vis"), side);
  overlay.classList.add("open");
}
overlay.addEventListener("click", () => overlay.classList.remove("open"));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") overlay.classList.remove("open");
});
function byScore(a, b) {
  return (b.score === null ? -Infinity : b.score) - (a.score === null ? -Infinity : a.score)
    || a.channel - b.channel;
}
function draw() {
  const key = document.getElementById("sort").value;
  const entries = data.channels.slice().sort(key === "score" ? byScore : (a, b) => a.channel - b.channel);
  grid.replaceChildren(...entries.map(tile));
}
document.getElementById("sort").addEventListener("change", draw);
draw();
// Status for scripts and tests: how many pictures actually decoded.
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.documentElement.dataset.imagesLoaded = loaded + "/" + images.length;
});
"""
)


def write_gallery(out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write the atlas gallery ``index.html`` for a manifest.

    Args:
        out_dir: the atlas folder (the page refers to its images relatively).
        manifest: the atlas manifest (:mod:`featviz.neuron_atlas`).

    Returns:
        The path of the page.
    """
    title = f"{manifest['model']} · {manifest['layer']}"
    subtitle = (
        f"{len(manifest['channels'])} channels · {manifest['steps']} steps · seed "
        f"{manifest['seed']} · featviz {manifest['versions']['featviz']}"
    )
    data = {"title": title, "subtitle": subtitle, "channels": [_entry(e) for e in manifest["channels"]]}
    page = html.page(f"featviz atlas: {title}", _BODY, script=_SCRIPT, style=_STYLE, data=data)
    return io.write_text(page, out_dir / "index.html")


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    """What the page needs of one channel; a NaN/inf score (a diverged render) becomes None."""
    score = entry.get("score")
    exemplars = [str(f) for f in entry.get("exemplars", [])]
    sources = [str(s) for s in entry.get("exemplar_sources", [])]
    return {
        "channel": int(entry["channel"]),
        "file": str(entry["file"]),
        "score": float(score) if score is not None and math.isfinite(score) else None,
        "exemplars": exemplars,
        "exemplar_sources": sources + [""] * (len(exemplars) - len(sources)),
        "renders": [str(f) for f in entry.get("renders", [entry["file"]])],
        "negative": str(entry["negative"]) if entry.get("negative") else None,
    }
