"""The report of a diagnosis: ``index.html`` (self-contained, safe to share), PNG charts, JSON.

``Diagnosis.save(folder)`` writes::

    folder/
      index.html            summary, charts, one row per layer, the flagged channels with renders
      diagnosis.json        per layer: dead_channels, saturated_channels, statistics, gradient
                            norms, probe accuracy, flags; CKA; the freezing suggestion and its rule
      activations.png       sparsity and dead / saturated share by depth
      gradients.png         gradient norm at each layer's output, relative to the output's (log)
      probes.png            linear-probe accuracy by depth, with chance (when labelled)
      cka.png               linear CKA between the two models' layers (with compare=)
      flagged/<i>_<c>.png   renders of flagged channels

File names are made from indices; every string from the model or the user reaches the page as
JSON data shown with ``textContent`` (:mod:`featviz.reports.pagekit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featviz import files, imaging
from featviz.reports import frame
from featviz.reports import pagekit as html
from featviz.reports.diagnosis import charts
from featviz.reports.diagnosis.record import EXPLODING, SATURATED_SHARE, VANISHING, DiagnosisData


def numbers(diagnosis: DiagnosisData) -> dict[str, Any]:
    """Every number of the diagnosis as plain JSON data (NaN as None)."""
    return {
        "model": diagnosis.model,
        "images": diagnosis.images,
        "labelled": diagnosis.labelled,
        "classes": diagnosis.classes,
        "class_names": diagnosis.class_names,
        "output_gradient_norm": _number(diagnosis.output_gradient_norm),
        "thresholds": {
            "saturated_share": SATURATED_SHARE,
            "vanishing_ratio": VANISHING,
            "exploding_ratio": EXPLODING,
            "explained": (
                "dead (rectified layers only): never positive on any position of any image; saturated: "
                f"at the activation's cap on at least {SATURATED_SHARE:.0%} of positions; always on "
                "(rectifiers): positive "
                "everywhere. "
                "Gradient ratio: the norm of the loss's gradient at the layer's output over its norm at "
                "the deepest diagnosed layer. Backpropagation through a healthy network (He et al. 2015 "
                "initialization, normalization, skip connections) keeps it within a few orders of "
                f"magnitude; below {VANISHING:g} the layer learns from a thousandth of the signal the "
                f"deep layers get (vanishing), above {EXPLODING:g} from a thousand times it (exploding)."
            ),
        },
        "probe_chance": _number(diagnosis.probe_chance),
        "freeze_up_to": diagnosis.freeze_up_to,
        "freeze_rule": diagnosis.freeze_rule,
        "compare_model": diagnosis.compare_model,
        "compare_layers": diagnosis.compare_layers,
        "cka": None
        if diagnosis.cka is None
        else [[_number(v) for v in row] for row in diagnosis.cka.tolist()],
        "settings": diagnosis.settings,
        "seconds": round(diagnosis.seconds, 2),
        "provenance": frame.provenance(diagnosis.model, diagnosis.settings, diagnosis.fingerprint),
        "layers": [
            {
                "layer": layer.layer,
                "type": layer.type,
                "channels": layer.channels,
                "mean": _number(layer.mean),
                "std": _number(layer.std),
                "sparsity": _number(layer.sparsity),
                "dead_channels": layer.dead,
                "saturated_channels": layer.saturated,
                "always_on_channels": layer.always_on,
                "cap": layer.cap,
                "gradient_norm": _number(layer.gradient_norm),
                "gradient_ratio": _number(layer.gradient_ratio),
                "parameter_gradient_norm": _number(layer.parameter_gradient_norm),
                "weight_norm": _number(layer.weight_norm),
                "probe_accuracy": _number(layer.probe_accuracy),
                "probe_stderr": _number(layer.probe_stderr),
                "flags": layer.flags,
            }
            for layer in diagnosis.layers
        ],
    }


def write_report(diagnosis: DiagnosisData, out: Path) -> Path:
    """Write the report of ``diagnosis`` into ``out``; returns ``out/index.html``."""
    names = [layer.layer for layer in diagnosis.layers]
    charts_written: dict[str, str] = {}

    def save(name: str, image: Any) -> None:  # noqa: ANN401 - a PIL image
        imaging.save_image(image, out / name)
        charts_written[name.removesuffix(".png")] = name

    save(
        "activations.png",
        charts.by_depth(
            names,
            {
                "sparsity (share <= 0)": [layer.sparsity for layer in diagnosis.layers],
                "dead share": [len(layer.dead) / layer.channels for layer in diagnosis.layers],
                "saturated share": [len(layer.saturated) / layer.channels for layer in diagnosis.layers],
            },
            title="Unit health by depth",
            bars=True,
            low=0.0,
            high=1.0,
        ),
    )
    save(
        "gradients.png",
        charts.by_depth(
            names,
            {
                "gradient at the layer / at the deepest layer": [
                    layer.gradient_ratio for layer in diagnosis.layers
                ]
            },
            title="Gradient health by depth (log scale)",
            log=True,
        ),
    )
    if diagnosis.labelled:
        save(
            "probes.png",
            charts.by_depth(
                names,
                {"linear probe accuracy": [layer.probe_accuracy for layer in diagnosis.layers]},
                title="Which layers carry your labels",
                reference=("chance", diagnosis.probe_chance or 0.0),
                low=0.0,
                high=1.0,
            ),
        )
    if diagnosis.cka is not None:
        save(
            "cka.png",
            charts.heat_map(
                diagnosis.cka.tolist(),
                names,
                diagnosis.compare_layers,
                title=f"Linear CKA: {diagnosis.model} (rows) vs {diagnosis.compare_model} (columns)",
            ),
        )
    flagged = []
    for i, layer in enumerate(diagnosis.layers):
        for channel, found in layer.renders.items():
            name = f"flagged/{i}_{channel}.png"
            imaging.save_image(imaging.to_pil(found.image.float().clamp(0, 1), alpha=False), out / name)
            kind = (
                "dead"
                if channel in layer.dead
                else "saturated"
                if channel in layer.saturated
                else "always on"
            )
            flagged.append({"layer": layer.layer, "channel": channel, "kind": kind, "file": name})
    record = numbers(diagnosis)
    record["files"] = {"charts": charts_written, "flagged": flagged}
    frame.write_record(record, out / "diagnosis.json")
    data = {
        "title": f"{diagnosis.model} · {diagnosis.images} images",
        "record": numbers(diagnosis),
        "charts": charts_written,
        "flagged": flagged,
    }
    js, css = html.asset(__package__, "page.js"), html.asset(__package__, "page.css")
    page = html.page(f"featviz diagnosis: {data['title']}", _BODY, js=js, css=css, data=data)
    return files.write_text(page, out / "index.html")


def _number(value: float | None) -> float | None:
    return None if value is None else files.finite(float(value))


def notebook_html(diagnosis: DiagnosisData) -> str:
    """A compact static view for notebooks: per layer its health and probe accuracy, and the
    freezing advice (every string as text, through the page kit)."""
    e = html.element
    header = e(
        "tr", *(e("th", name) for name in ("layer", "type", "channels", "flags", "gradient ratio", "probe"))
    )
    rows = [
        e(
            "tr",
            e("td", layer.layer),
            e("td", layer.type),
            e("td", str(layer.channels)),
            e("td", "; ".join(layer.flags) or "—"),
            e("td", "—" if _number(layer.gradient_ratio) is None else f"{layer.gradient_ratio:.2g}"),
            e("td", "—" if layer.probe_accuracy is None else f"{layer.probe_accuracy:.3f}"),
        )
        for layer in diagnosis.layers
    ]
    advice = f"freeze up to {diagnosis.freeze_up_to}" if diagnosis.freeze_up_to else ""
    return e(
        "div",
        e("b", diagnosis.model),
        f" on {diagnosis.images} images. {advice}",
        e("table", header, *rows),
    )


# Static markup only: every string from the model or the user is set from the JSON data with
# textContent by page.css and page.js (beside this module), after the page kit's kit.css and kit.js.
_BODY = """<h1 id="title"></h1>
<div class="sub" id="subtitle"></div>
<h2>Charts</h2>
<div class="charts" id="charts"></div>
<h2>Which layers to freeze</h2>
<p id="rule"></p>
<h2>Layers</h2>
<table><thead><tr>
<th>layer</th><th>type</th><th>channels</th><th>mean</th><th>std</th><th>sparsity</th><th>dead</th>
<th>saturated</th><th>gradient ratio</th><th>probe accuracy</th><th>flags</th>
</tr></thead><tbody id="rows"></tbody></table>
<h2>Flagged channels</h2>
<div class="flagged" id="flagged"></div>
<h2>How to read it</h2>
<p id="thresholds"></p>"""


__all__ = ["write_report", "numbers"]
