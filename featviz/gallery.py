"""The atlas gallery: one self-contained ``index.html`` (no network, no CDN).

Thumbnails are the atlas's own PNG files, referenced relatively; the page's data (channel,
score, exemplar files) is embedded as JSON. Sort by channel or score; click a tile to enlarge it
beside its dataset exemplars.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from featviz import io

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>featviz atlas: {title}</title>
<style>
  body {{ font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }}
  header {{ display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }}
  h1 {{ font-size: 18px; margin: 0; }}
  #grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
           gap: 10px; margin-top: 12px; }}
  .tile {{ background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 4px;
           cursor: zoom-in; }}
  .tile img.vis {{ width: 100%; display: block; image-rendering: auto; }}
  /* transparent (RGBA) renders show over a checkerboard */
  img.vis, #overlay > img {{ background: repeating-conic-gradient(#bbb 0 25%, #eee 0 50%) 0 0 / 16px 16px; }}
  .tile .meta {{ display: flex; justify-content: space-between; font-size: 12px; padding: 2px; }}
  .ex {{ display: flex; gap: 2px; }} .ex img {{ width: 25%; display: block; }}
  #overlay {{ position: fixed; inset: 0; background: rgba(0,0,0,.85); display: none;
              align-items: center; justify-content: center; gap: 16px; flex-wrap: wrap; }}
  #overlay.open {{ display: flex; }}
  #overlay img {{ max-height: 80vh; max-width: 60vw; }}
  #overlay .side {{ color: #eee; display: flex; flex-direction: column; gap: 6px; }}
  #overlay .side img {{ max-width: 160px; }}
</style>
</head>
<body>
<header>
  <h1>{title}</h1>
  <span>{subtitle}</span>
  <label>sort by
    <select id="sort">
      <option value="channel">channel</option>
      <option value="score">score (high first)</option>
    </select>
  </label>
</header>
<div id="grid"></div>
<div id="overlay" title="click to close"></div>
<script id="data" type="application/json">{data}</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const grid = document.getElementById("grid");
const overlay = document.getElementById("overlay");
function tile(entry) {{
  const div = document.createElement("div");
  div.className = "tile";
  div.dataset.channel = entry.channel;
  const img = document.createElement("img");
  img.className = "vis"; img.src = entry.file; img.alt = "channel " + entry.channel;
  img.loading = "eager";
  div.appendChild(img);
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.innerHTML = "<b>" + entry.channel + "</b><span>score " + entry.score.toPrecision(3) + "</span>";
  div.appendChild(meta);
  if (entry.exemplars && entry.exemplars.length) {{
    const ex = document.createElement("div");
    ex.className = "ex";
    for (const file of entry.exemplars) {{
      const e = document.createElement("img"); e.src = file; e.alt = "exemplar"; ex.appendChild(e);
    }}
    div.appendChild(ex);
  }}
  div.addEventListener("click", () => open(entry));
  return div;
}}
function open(entry) {{
  overlay.innerHTML = "";
  const big = document.createElement("img"); big.src = entry.file; overlay.appendChild(big);
  const side = document.createElement("div"); side.className = "side";
  side.innerHTML = "<b>channel " + entry.channel + "</b><span>score "
    + entry.score.toPrecision(4) + "</span>";
  for (const file of entry.exemplars || []) {{
    const e = document.createElement("img"); e.src = file; side.appendChild(e);
  }}
  overlay.appendChild(side);
  overlay.classList.add("open");
}}
overlay.addEventListener("click", () => overlay.classList.remove("open"));
function draw() {{
  const key = document.getElementById("sort").value;
  const entries = data.channels.slice().sort(
    key === "score" ? (a, b) => b.score - a.score : (a, b) => a.channel - b.channel);
  grid.replaceChildren(...entries.map(tile));
}}
document.getElementById("sort").addEventListener("change", draw);
draw();
// Status for scripts and tests: how many pictures actually decoded.
window.addEventListener("load", () => {{
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.documentElement.dataset.imagesLoaded = loaded + "/" + images.length;
}});
</script>
</body>
</html>
"""


def write_gallery(out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write ``index.html`` for an atlas manifest; returns its path."""
    title = f"{manifest['model']} · {manifest['layer']}"
    subtitle = (
        f"{len(manifest['channels'])} channels · {manifest['steps']} steps · seed "
        f"{manifest['seed']} · featviz {manifest['versions']['featviz']}"
    )
    data = json.dumps({"channels": manifest["channels"]}).replace("</", "<\\/")
    page = _PAGE.format(title=html.escape(title), subtitle=html.escape(subtitle), data=data)
    return io.write_text(page, out_dir / "index.html")
