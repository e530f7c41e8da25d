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
shown with ``textContent`` (:mod:`featviz.reports.pagekit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from featviz import files, imaging
from featviz.reports import frame
from featviz.reports import pagekit as html
from featviz.reports.atlases.activation_record import ActivationAtlasData

# Static markup only: every string from the model or the photos is set from the JSON data with
# textContent by activation_page.js (beside this module, with activation_page.css), after the page
# kit's kit.js and kit.css.
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


def icon_size(grid: int) -> int:
    """Pixels per cell in ``atlas.jpg``: about 1,600 px across, 32..128 per cell."""
    return max(32, min(128, 1600 // max(grid, 1)))


def write_page(atlas: ActivationAtlasData, out: Path, links: Sequence[tuple[str, str]] = ()) -> Path:
    """Write the atlas's files and page into ``out``; returns the page."""
    rendered = []
    for cell in atlas.cells:
        name = f"r{cell.row:02d}_c{cell.col:02d}"
        if cell.image is not None:
            imaging.save_image(imaging.to_pil(cell.image, alpha=False), out / "cells" / f"{name}.jpg")
            rendered.append(name)
        if cell.patch is not None:
            imaging.save_image(imaging.to_pil(cell.patch, alpha=False), out / "patches" / f"{name}.jpg")
    imaging.save_image(atlas.picture(icon_size(atlas.grid)), out / "atlas.jpg")
    imaging.save_image(atlas.density(), out / "layout.png")
    facts = files.plain(atlas.to_dict())
    frame.write_record(facts, out / "activation_atlas.json")
    title = f"activation atlas: {atlas.model} · {atlas.layer}"
    page = html.page(
        title,
        _BODY,
        js=html.asset(__package__, "activation_page.js"),
        css=html.asset(__package__, "activation_page.css"),
        data={"title": title, "atlas": facts, "rendered": rendered, "links": [list(link) for link in links]},
    )
    return files.write_text(page, out / "index.html")


def inline_html(atlas: ActivationAtlasData) -> str:
    """The atlas for a notebook: its picture inline and one line of facts (no script)."""
    picture = html.image(
        imaging.png_bytes(atlas.picture(icon_size(atlas.grid) // 2)), "activation atlas", None
    )
    return html.element("figure", picture, html.element("figcaption", repr(atlas)))


__all__ = ["write_page", "inline_html", "icon_size"]
