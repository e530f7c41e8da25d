"""The report of a concept dictionary: ``index.html`` (self-contained, safe to share), JSON, the
dictionary and the pictures.

``Concepts.save(folder)`` writes::

    folder/
      index.html                  the dictionary's quality, the deletion test, and one card per
                                  concept (render, exemplar crops, importance, deletion, share),
                                  with how to read them
      concepts.json               every number (quality, importance, deletion per class, settings)
      dictionary.pt               the dictionary as plain tensors (torch.load(..., weights_only=True);
                                  featviz explain --concepts reads it)
      renders/concept_<i>.png     each shown concept's render
      exemplars/concept_<i>_<r>.jpg  its strongest photo crops

File names are made from indices; every string from the model, a file name or the user reaches
the page as JSON data shown with ``textContent`` (:mod:`featviz.reports.pagekit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featviz import files, imaging
from featviz.reports import frame
from featviz.reports import pagekit as html
from featviz.reports.concepts.record import Concept, ConceptsData

_BODY = """
<h1 id="title"></h1>
<p class="sub" id="subtitle"></p>
<section>
<h2>The dictionary</h2>
<p id="quality"></p>
<p class="how">A concept is a direction in the layer's activation space. At every position of every
photo the layer's activation is written as a sum of a few concepts with non-negative amounts (its
codes) plus what the dictionary cannot explain. R² is the share of the activations' variance the
concepts explain; L0 is how many concepts are active at a position on average; a dead concept is
never active.</p>
</section>
<section>
<h2 id="ranking-title"></h2>
<p id="test"></p>
<table id="tests"><thead><tr><th>class</th><th>photos</th><th>top 3 concepts</th>
<th>logit drop, top 3 removed</th><th>logit drop, 3 random removed</th></tr></thead><tbody></tbody></table>
<p class="how">Importance is gradient × concept activation: how much a concept adds to the class's
logit, to first order, summed over the positions of a photo and averaged over the photos the model
predicts as the class. The deletion test checks that by an intervention: the concepts are removed
from the layer's activations and the rest of the network is run again; a good ranking drops the
logit more when its top concepts are removed than when random ones are.</p>
</section>
<section>
<h2>The concepts, most important first</h2>
<p class="how">Each card: the concept's <b>render</b> (an image optimized to point the layer's
activation along its direction, so it shows what the direction responds to), then the photo crops
where it is <b>strongest</b> (one per photo), then its numbers. Read the render and the crops
together: what they share is the concept.</p>
<div id="cards" class="cards"></div>
</section>
<p class="sub" id="footer"></p>
"""


def _concept_numbers(concept: Concept) -> dict[str, Any]:
    return {
        "index": concept.index,
        "rank": concept.rank,
        "importance": frame.number(concept.importance),
        "importance_share": frame.number(concept.importance_share),
        "deletion": None if concept.deletion is None else frame.number(concept.deletion),
        "share": frame.number(concept.share),
        "photos": concept.photos,
        "exemplar_sources": list(concept.exemplar_sources),
        "exemplar_codes": [frame.number(code) for code in concept.exemplar_codes],
        "score": None if concept.score is None else frame.number(concept.score),
        "rendered": concept.image is not None,
        "cached": concept.cached,
    }


def numbers(report: ConceptsData) -> dict[str, Any]:
    """Every number of the report as plain JSON data (NaN as None)."""
    return files.plain(
        {
            "provenance": frame.provenance(report.model, report.settings, report.fingerprint),
            "model": report.model,
            "layer": report.layer,
            "method": report.method,
            "concepts_in_dictionary": report.dictionary.size,
            "channels": report.dictionary.channels,
            "signed": report.dictionary.signed,
            "dictionary_fingerprint": report.dictionary.fingerprint(),
            "photos": report.photos,
            "vectors": report.vectors,
            "quality": report.quality,
            "target": report.target,
            "target_name": report.target_name,
            "target_photos": report.target_photos,
            "predicted": [{"class": c, "name": name, "photos": n} for c, name, n in report.predicted],
            "concepts": [_concept_numbers(concept) for concept in report.concepts],
            "deletion_tests": [
                {
                    "class": test.class_index,
                    "name": test.class_name,
                    "photos": test.photos,
                    "top": test.top,
                    "drop_top": frame.number(test.drop_top),
                    "drop_random": frame.number(test.drop_random),
                    "drop_random_draws": [frame.number(d) for d in test.drop_random_draws],
                }
                for test in report.tests
            ],
            "deletion_summary": {key: frame.number(value) for key, value in report.deletion_summary.items()},
            "seconds": {key: round(value, 2) for key, value in report.seconds.items()},
            "interrupted": report.interrupted,
            "rendered": report.rendered,
            "reused": report.reused,
        }
    )


def write_report(report: ConceptsData, out: Path) -> Path:
    """Write the report into ``out``; returns ``out/index.html``."""
    report.dictionary.save(out / "dictionary.pt")
    cards = []
    for concept in report.concepts:
        render = None
        if concept.image is not None:
            render = f"renders/concept_{concept.index:04d}.png"
            imaging.save_image(imaging.to_pil(concept.image.float().clamp(0, 1), alpha=False), out / render)
        crops = []
        for rank, crop in enumerate(concept.exemplars):
            name = f"exemplars/concept_{concept.index:04d}_{rank}.jpg"
            imaging.save_image(imaging.to_pil(crop.float().clamp(0, 1), alpha=False), out / name)
            crops.append(name)
        cards.append({"render": render, "exemplars": crops})
    record = numbers(report)
    record["files"] = {"dictionary": "dictionary.pt", "cards": cards}
    frame.write_record(record, out / "concepts.json")
    data = {"record": record, "cards": cards}
    title = f"{report.model} · {report.layer} · {report.method} concepts"
    js, css = html.asset(__package__, "page.js"), html.asset(__package__, "page.css")
    return files.write_text(
        html.page(f"featviz concepts: {title}", _BODY, js=js, css=css, data=data), out / "index.html"
    )


def notebook_html(report: ConceptsData) -> str:
    """A static view for notebooks: quality, the deletion test and each shown concept's render,
    exemplars and numbers (every string as text)."""
    e = html.element
    q = report.quality
    s = report.deletion_summary
    parts = [
        e(
            "p",
            e("b", f"{report.model} · {report.layer}"),
            f": {report.method}, {report.dictionary.size} concepts from {report.vectors} vectors of "
            f"{report.photos} photos; R² {q['r2']:.3f}, L0 {q['l0']:.1f}, {int(q['dead'])} dead.",
        ),
        e(
            "p",
            f"Ranked for {report.target_name} ({report.target}). Removing the top {len(report.tests[0].top)} "
            f"concepts drops the class logit by {s['drop_top']:.3g} (± {s['drop_top_se']:.2g}), "
            f"3 random ones by {s['drop_random']:.3g} (± {s['drop_random_se']:.2g}), "
            f"mean over {int(s['classes'])} classes.",
        ),
    ]
    rows = []
    for concept in report.concepts:
        pictures = []
        if concept.image is not None:
            pictures.append(
                html.image(
                    imaging.png_bytes(imaging.to_pil(concept.image.float().clamp(0, 1), alpha=False)),
                    f"concept {concept.index} render",
                    width=96,
                )
            )
        pictures += [
            html.image(
                imaging.png_bytes(imaging.to_pil(crop.float().clamp(0, 1), alpha=False)),
                f"concept {concept.index} at {source}",
                width=64,
            )
            for crop, source in zip(concept.exemplars, concept.exemplar_sources, strict=True)
        ]
        deletion = "—" if concept.deletion is None else f"{concept.deletion:.3g}"
        rows.append(
            e(
                "tr",
                e("td", f"#{concept.index}"),
                e("td", *pictures),
                e("td", f"{concept.importance:.3g} ({concept.importance_share:.0%})"),
                e("td", deletion),
                e("td", f"{concept.share:.1%}"),
            )
        )
    head = ("concept", "render · exemplars", "importance (share)", "logit drop alone", "share of activity")
    parts.append(e("table", e("tr", *(e("th", name) for name in head)), *rows))
    return e("div", *parts)
