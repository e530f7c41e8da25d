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
JSON data shown with ``textContent`` (:mod:`featviz.html`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featviz import charts, html, io

if TYPE_CHECKING:  # pragma: no cover
    from featviz.diagnosis import Diagnosis


def numbers(diagnosis: Diagnosis) -> dict[str, Any]:
    """Every number of the diagnosis as plain JSON data (NaN as None)."""
    from featviz import __version__
    from featviz.diagnosis import EXPLODING, SATURATED_SHARE, VANISHING

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
                "dead: never positive on any position of any image; saturated: at the activation's cap "
                f"on at least {SATURATED_SHARE:.0%} of positions; always on (rectifiers): positive "
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
        "featviz": __version__,
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


def write_report(diagnosis: Diagnosis, out: Path) -> Path:
    """Write the report of ``diagnosis`` into ``out``; returns ``out/index.html``."""
    names = [layer.layer for layer in diagnosis.layers]
    files: dict[str, str] = {}

    def save(name: str, image: Any) -> None:  # noqa: ANN401 - a PIL image
        io.save_image(image, out / name)
        files[name.removesuffix(".png")] = name

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
            io.save_image(io.to_pil(found.image.float().clamp(0, 1), alpha=False), out / name)
            kind = (
                "dead"
                if channel in layer.dead
                else "saturated"
                if channel in layer.saturated
                else "always on"
            )
            flagged.append({"layer": layer.layer, "channel": channel, "kind": kind, "file": name})
    record = numbers(diagnosis)
    record["files"] = {"charts": files, "flagged": flagged}
    io.write_text(json.dumps(record, indent=1, allow_nan=False), out / "diagnosis.json")
    data = {
        "title": f"{diagnosis.model} · {diagnosis.images} images",
        "record": numbers(diagnosis),
        "charts": files,
        "flagged": flagged,
    }
    page = html.page(f"featviz diagnosis: {data['title']}", _BODY, script=_SCRIPT, style=_STYLE, data=data)
    return io.write_text(page, out / "index.html")


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 22px 0 6px; }
.sub { color: #555; font-size: 12px; }
.charts { display: flex; gap: 12px; flex-wrap: wrap; }
.charts img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 12px; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child, td.flags { text-align: left; }
td.flags { color: #a30; }
.flagged { display: flex; gap: 10px; flex-wrap: wrap; }
figure { margin: 0; } figure img { width: 128px; height: 128px; display: block; border: 1px solid #ddd; }
figcaption { font-size: 12px; max-width: 128px; overflow-wrap: anywhere; }
#rule { background: #fff; border: 1px solid #ddd; padding: 8px; max-width: 900px; }
"""

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

_SCRIPT = (
    html.READ_DATA_JS
    + html.ELEMENT_JS
    + """const data = readData();
const record = data.record;
function fixed(value, digits) {
  return value === null ? "n/a" : Number(value).toPrecision(digits);
}
document.getElementById("title").textContent = data.title;
const named = record.class_names.length ? " (" + record.class_names.join(", ") + ")" : "";
document.getElementById("subtitle").textContent =
  (record.labelled ? record.classes + " classes" + named + " · " : "no labels · ") + record.layers.length +
  " layers · " + record.seconds + " s · featviz " + record.featviz +
  (record.compare_model ? " · compared with " + record.compare_model : "");
const charts = document.getElementById("charts");
for (const key of Object.keys(data.charts)) {
  const img = document.createElement("img");
  img.src = data.charts[key];
  img.alt = key;
  charts.appendChild(img);
}
document.getElementById("rule").textContent = record.freeze_rule ||
  "Give labels (labels=..., or --labels-from-folders) for linear probes and a freezing suggestion.";
const rows = document.getElementById("rows");
for (const layer of record.layers) {
  const tr = document.createElement("tr");
  const cells = [layer.layer, layer.type, String(layer.channels), fixed(layer.mean, 3), fixed(layer.std, 3),
    fixed(layer.sparsity, 3), String(layer.dead_channels.length), String(layer.saturated_channels.length),
    fixed(layer.gradient_ratio, 3), fixed(layer.probe_accuracy, 3)];
  for (const text of cells) tr.appendChild(element("td", "", text));
  tr.appendChild(element("td", "flags", layer.flags.join("; ")));
  rows.appendChild(tr);
}
const flagged = document.getElementById("flagged");
if (!data.flagged.length) flagged.textContent = "No rendered flagged channels.";
for (const item of data.flagged) {
  const figure = element("figure");
  const img = document.createElement("img");
  img.src = item.file;
  img.alt = item.layer + ":" + item.channel;
  figure.appendChild(img);
  figure.appendChild(element("figcaption", "", item.layer + ":" + item.channel + " (" + item.kind + ")"));
  flagged.appendChild(figure);
}
document.getElementById("thresholds").textContent = record.thresholds.explained;
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.documentElement.dataset.imagesLoaded = loaded + "/" + images.length;
});
"""
)

__all__ = ["write_report", "numbers"]
