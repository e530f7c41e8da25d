"""The atlas gallery: one self-contained ``index.html`` (no network, no CDN), safe to share.

Thumbnails are the atlas's own PNG files, referenced relatively; the page's data (title, channel,
score, exemplar files and the names of the photos they came from) is embedded as JSON and shown
as text only (:mod:`featviz.reports.pagekit`). Sort by channel or score; a tile shows the channel's further
renders (``renders=K``) and its negative (red outline) under its picture; click a tile to enlarge
it beside them and its dataset exemplars, each captioned with its source file name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featviz import files
from featviz.reports import pagekit as html

# Static markup only: every string from the manifest is set from the JSON data with textContent by
# gallery.js (beside this module, with gallery.css), after the page kit's kit.js and kit.css.
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


def write_gallery(out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write the atlas gallery ``index.html`` for a manifest.

    Args:
        out_dir: the atlas folder (the page refers to its images relatively).
        manifest: the atlas manifest (:mod:`featviz.reports.atlases.neuron`).

    Returns:
        The path of the page.
    """
    title = f"{manifest['model']} · {manifest['layer']}"
    subtitle = (
        f"{len(manifest['channels'])} channels · {manifest['steps']} steps · seed "
        f"{manifest['seed']} · featviz {manifest['provenance']['featviz']}"
    )
    data = {"title": title, "subtitle": subtitle, "channels": [_entry(e) for e in manifest["channels"]]}
    js, css = html.asset(__package__, "gallery.js"), html.asset(__package__, "gallery.css")
    page = html.page(f"featviz atlas: {title}", _BODY, js=js, css=css, data=data)
    return files.write_text(page, out_dir / "index.html")


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    """What the page needs of one channel; a NaN/inf score (a diverged render) becomes None."""
    score = entry.get("score")
    exemplars = [str(f) for f in entry.get("exemplars", [])]
    sources = [str(s) for s in entry.get("exemplar_sources", [])]
    return {
        "channel": int(entry["channel"]),
        "file": str(entry["file"]),
        "score": None if score is None else files.finite(float(score)),
        "exemplars": exemplars,
        "exemplar_sources": sources + [""] * (len(exemplars) - len(sources)),
        "renders": [str(f) for f in entry.get("renders", [entry["file"]])],
        "negative": str(entry["negative"]) if entry.get("negative") else None,
    }
