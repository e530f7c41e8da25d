"""The page of an activation atlas: the atlas with hoverable, clickable cells, then every cell.

``ActivationAtlas.save(folder)`` writes::

    folder/
      index.html              the atlas; hover a cell for its facts, click it to reach its entry
      atlas.jpg               the atlas as one image
      layout.png              the layout's density (where the activation vectors fell)
      cells/rRR_cCC.jpg       each cell's render
      patches/rRR_cCC.jpg     each cell's photo region (the activation nearest its mean)
      activation_atlas.json   the facts: settings, timings, per cell count, photos, classes

File names are made from grid indices; layer, class and photo names reach the page as JSON data
shown with ``textContent`` (:mod:`featviz.html`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from featviz import html, io

if TYPE_CHECKING:  # pragma: no cover
    from featviz.activation_atlases import ActivationAtlas

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
h1 { font-size: 20px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 18px 0 6px; }
nav { font-size: 13px; margin-bottom: 8px; } nav a { margin-right: 12px; }
#facts { color: #555; max-width: 70em; }
#atlas { position: relative; display: inline-block; max-width: 100%; border: 1px solid #ddd; }
#atlas > img { display: block; max-width: 100%; width: 960px; }
#cells { position: absolute; inset: 0; display: grid;
         grid-template-columns: repeat(GRID, 1fr); grid-template-rows: repeat(GRID, 1fr); }
#cells a:hover, #cells a:focus { outline: 2px solid #06c; outline-offset: -2px; }
#list { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 8px; }
.cell { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 4px; font-size: 12px; }
.cell:target { outline: 3px solid #06c; }
.cell .pair { display: flex; gap: 4px; } .cell img { width: 50%; display: block; }
.layout img { width: 384px; max-width: 100%; border: 1px solid #ddd; display: block; }
.layout figcaption { font-size: 12px; max-width: 384px; }
"""

_BODY = """<nav id="links"></nav>
<h1 id="title"></h1>
<p id="facts"></p>
<div id="atlas"><img src="atlas.jpg" alt="the activation atlas"><div id="cells"></div></div>
<h2>Cells</h2>
<p>Each cell: its render (left) and the photo region whose activation is nearest its mean (right).</p>
<div id="list"></div>
<h2>Layout</h2>
<figure class="layout"><img src="layout.png" alt="layout density">
<figcaption id="layout"></figcaption></figure>"""

_SCRIPT = (
    html.READ_DATA_JS
    + html.ELEMENT_JS
    + """const data = readData();
const atlas = data.atlas;
function pad(n) { return String(n).padStart(2, "0"); }
function name(cell) { return "r" + pad(cell.row) + "_c" + pad(cell.col); }
function summary(cell) {
  const classes = cell.classes.map((c) => c.name).join(", ");
  return "row " + cell.row + ", column " + cell.col + ": " + cell.count + " activations from " +
    cell.photos + " photos" + (classes ? "; raises " + classes : "");
}
document.title = data.title;
document.getElementById("title").textContent = data.title;
const links = document.getElementById("links");
for (const [href, text] of data.links) {
  const a = element("a", "", text);
  a.href = href;
  links.appendChild(a);
}
const seconds = atlas.seconds;
document.getElementById("facts").textContent =
  atlas.vectors + " activation vectors from " + atlas.photos + " photos, laid out by " + atlas.layout +
  " on a " + atlas.grid + "x" + atlas.grid + " grid; " + atlas.cells.length + " cells hold at least " +
  atlas.min_count + " vectors and show the render of their mean activation (" + atlas.settings.steps +
  " steps, " + atlas.settings.size + " px)." +
  (atlas.interrupted ? " Interrupted: some cells are missing." : "") +
  " Seconds: " + Object.entries(seconds).map(([k, v]) => k + " " + v).join(", ") + ".";
const byPlace = new Map(atlas.cells.map((cell) => [cell.row * atlas.grid + cell.col, cell]));
const overlay = document.getElementById("cells");
for (let i = 0; i < atlas.grid * atlas.grid; i++) {
  const cell = byPlace.get(i);
  if (!cell) { overlay.appendChild(element("span")); continue; }
  const a = element("a");
  a.href = "#" + name(cell);
  a.title = summary(cell);
  a.setAttribute("aria-label", summary(cell));
  overlay.appendChild(a);
}
const list = document.getElementById("list");
for (const cell of atlas.cells.slice().sort((a, b) => b.count - a.count)) {
  const box = element("div", "cell");
  box.id = name(cell);
  const pair = element("div", "pair");
  for (const [folder, alt] of [["cells/", "render"], ["patches/", cell.patch_source]]) {
    if (folder === "cells/" && !data.rendered.includes(name(cell))) continue;
    const img = document.createElement("img");
    img.src = folder + name(cell) + ".jpg";
    img.alt = alt;
    img.title = alt;
    pair.appendChild(img);
  }
  box.appendChild(pair);
  box.appendChild(element("div", "", summary(cell)));
  box.appendChild(element("div", "", "photo: " + cell.patch_source));
  list.appendChild(box);
}
document.getElementById("layout").textContent =
  "Where the " + atlas.vectors + " activation vectors fell in the " + atlas.layout +
  " layout (darker: more); the grid cuts this square into " + atlas.grid + "x" + atlas.grid + " cells.";
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.documentElement.dataset.imagesLoaded = loaded + "/" + images.length;
});
"""
)


def icon_size(grid: int) -> int:
    """Pixels per cell in ``atlas.jpg``: about 1,600 px across, 32..128 per cell."""
    return max(32, min(128, 1600 // max(grid, 1)))


def write_page(atlas: ActivationAtlas, out: Path, links: Sequence[tuple[str, str]] = ()) -> Path:
    """Write the atlas's files and page into ``out``; returns the page."""
    rendered = []
    for cell in atlas.cells:
        name = f"r{cell.row:02d}_c{cell.col:02d}"
        if cell.image is not None:
            io.save_image(io.to_pil(cell.image, alpha=False), out / "cells" / f"{name}.jpg")
            rendered.append(name)
        if cell.patch is not None:
            io.save_image(io.to_pil(cell.patch, alpha=False), out / "patches" / f"{name}.jpg")
    io.save_image(atlas.picture(icon_size(atlas.grid)), out / "atlas.jpg")
    io.save_image(atlas.density(), out / "layout.png")
    facts = atlas.to_dict()
    io.write_text(json.dumps(facts, indent=1), out / "activation_atlas.json")
    title = f"activation atlas: {atlas.model} · {atlas.layer}"
    page = html.page(
        title,
        _BODY,
        script=_SCRIPT,
        style=_STYLE.replace("GRID", str(int(atlas.grid))),
        data={"title": title, "atlas": facts, "rendered": rendered, "links": [list(link) for link in links]},
    )
    return io.write_text(page, out / "index.html")


def inline_html(atlas: ActivationAtlas) -> str:
    """The atlas for a notebook: its picture inline and one line of facts (no script)."""
    data = base64.b64encode(io.png_bytes(atlas.picture(icon_size(atlas.grid) // 2))).decode()
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="activation atlas">'
        f"<figcaption>{html.escape(repr(atlas))}</figcaption></figure>"
    )


__all__ = ["write_page", "inline_html", "icon_size"]
