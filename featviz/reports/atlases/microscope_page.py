"""The microscope's pages: an index of layers with a search box, a page per layer, a page per unit.

Every page is written through :func:`featviz.reports.pagekit.page` (self-contained, nothing loaded from
elsewhere, strings as text only). Page and image names are made from indices, so a link never
carries a string from the model; layer names and photo names travel as JSON data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featviz import files
from featviz.reports import pagekit as html

#: Units shown as thumbnails per layer on the index (the rest behind a "+k more" link).
INDEX_THUMBNAILS = 12

# Static markup only: every string from the model is set from the JSON data with textContent by
# microscope_page.js and the page's microscope_index.js, microscope_layer.js or microscope_unit.js
# (beside this module, with microscope_page.css), after the page kit's kit.js and kit.css.
_INDEX_BODY = """<h1 id="title"></h1>
<form id="search"><label>find a unit <input id="query" placeholder="layer:channel" size="28"></label>
<button type="submit">go</button><span id="message"></span></form>
<h2>Layers</h2>
<p class="sub">Shallow to deep. Each layer shows its first units' renders (the picture that excites
each unit most): click one for the unit's page, the layer's name or "more" for all its units.</p>
<div id="layers"></div>"""

_LAYER_BODY = """<nav><a href="index.html">all layers</a><span id="neighbours"></span></nav>
<h1 id="title"></h1>
<label>sort by <select id="sort"><option value="channel">channel</option>
<option value="score">score (high first)</option></select></label>
<div id="grid"></div>"""

_UNIT_BODY = """<nav><a href="index.html">all layers</a><a id="up">this layer</a>
<span id="neighbours"></span></nav>
<h1 id="title"></h1>
<h2>Renders</h2><div class="row" id="renders"></div>
<h2>Dataset exemplars</h2><div class="row" id="exemplars"></div>
<h2>Classes its render raises most</h2><ol id="classes"></ol>
<h2>Units of the layer below that excite it most</h2><ol id="below"></ol>"""


def _page(title: str, body: str, script: str, data: dict[str, Any]) -> str:
    """A page of the microscope: its shared script, then ``script`` (one of microscope_*.js)."""
    js = html.asset(__package__, "microscope_page.js") + "\n" + html.asset(__package__, script)
    return html.page(title, body, js=js, css=html.asset(__package__, "microscope_page.css"), data=data)


def write_site(out: Path, record: dict[str, Any]) -> Path:
    """Write every page of the microscope; returns the index page."""
    model = str(record["model"])
    layers = record["layers"]
    index = _page(
        f"featviz microscope: {model}",
        _INDEX_BODY,
        "microscope_index.js",
        {"title": f"{model}: {len(layers)} layers", "layers": layers, "thumbnails": INDEX_THUMBNAILS},
    )
    for position, layer in enumerate(layers):
        neighbours = {
            "previous": layers[position - 1]["index"] if position > 0 else None,
            "next": layers[position + 1]["index"] if position + 1 < len(layers) else None,
        }
        page = _page(
            f"featviz microscope: {model} · {layer['layer']}",
            _LAYER_BODY,
            "microscope_layer.js",
            {"title": f"{model} · {layer['layer']}", "layer": layer, **neighbours},
        )
        files.write_text(page, out / f"layer_{layer['index']:02d}.html")
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
            page = _page(data["title"], _UNIT_BODY, "microscope_unit.js", data)
            files.write_text(page, out / f"unit_{layer['index']:02d}_{unit['channel']:04d}.html")
    return files.write_text(index, out / "index.html")


__all__ = ["write_site"]
