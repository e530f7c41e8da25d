"""The report of a diagnosis: ``index.html`` (self-contained, safe to share), SVG charts, JSON.

``Diagnosis.save(folder)`` writes::

    folder/
      index.html            the verdict on freezing, warnings, charts, one row per layer, the
                            flagged channels with renders, how to read it
      diagnosis.json        per layer: activation, rectified, images × positions, dead / saturated /
                            always-on channels, statistics, gradient norms, the probe (accuracy,
                            95 % CI, p-values, penalty λ, per split), flags; the freezing verdict,
                            its reasoning and the advice's numbers; warnings; CKA
      activations.svg       sparsity and dead / saturated share by depth
      gradients.svg         gradient norm at each layer's output over the deepest layer's (log)
      probes.svg            linear-probe accuracy by depth with 95 % intervals and chance (labelled)
      cka.svg               linear CKA between the two models' layers (with compare=)
      flagged/<i>_<c>.png   renders of flagged channels

Every chart has a title, labelled axes and tick values, its text as text (:mod:`.charts`). File
names are made from indices; every string from the model or the user reaches the page as JSON data
shown with ``textContent`` (:mod:`featviz.reports.pagekit`), and the charts as escaped SVG text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featviz import files, imaging
from featviz.analysis import probes
from featviz.reports import frame
from featviz.reports import pagekit as html
from featviz.reports.diagnosis import charts
from featviz.reports.diagnosis.record import (
    BOUND_CONFIDENCE,
    EXPLODING,
    MIN_IMAGES,
    SATURATED_SHARE,
    VANISHING,
    DiagnosisData,
    LayerHealth,
    rate_bound,
)

_EXPLAINED = (
    "Activation: what the layer's values last went through (the last module to run in the layer; "
    "'none' for a normalization, a convolution or a residual sum). Dead, saturated and always-on "
    "channels are counted only where the values are rectified (ReLU, ReLU6; never below 0): dead: "
    "never positive on any position of any image; saturated: at the activation's cap on at least "
    f"{SATURATED_SHARE:.0%} of positions; always on: positive everywhere. 'Never' is over the images "
    f"given: a channel never positive on N images may still fire on up to about 3/N of such images "
    f"({BOUND_CONFIDENCE:.0%} upper bound, the rule of three), and on up to 3/(N x positions) of "
    "positions only if positions were independent, which neighbouring positions are not; below "
    f"{MIN_IMAGES} images the page warns. "
    "Gradient ratio: the norm of the loss's gradient at the layer's output over its norm at the "
    "deepest diagnosed layer. Backpropagation through a healthy network (He et al. 2015 "
    "initialization, normalization, skip connections) keeps it within a few orders of magnitude; "
    f"below {VANISHING:g} the layer learns from a thousandth of the signal the deep layers get "
    f"(vanishing), above {EXPLODING:g} from a thousand times it (exploding). "
    "Probes: multinomial logistic regression from each layer's pooled, standardized features to the "
    f"labels, its L2 penalty λ chosen by {probes.FOLDS}-fold cross-validation inside each training "
    f"split, scored on {probes.SPLITS} "
    f"stratified splits ({probes.HELD_OUT:.0%} held out; the same images for every layer); the "
    f"interval is {probes.CONFIDENCE:.0%} over the splits; p against chance is a permutation test of "
    f"the held-out labels, Holm-adjusted over the layers. The advice names the earliest layer better "
    f"than chance and not significantly worse than the best (p < {probes.ALPHA:g}), and none when no "
    "layer is better than chance."
)


def numbers(diagnosis: DiagnosisData) -> dict[str, Any]:
    """Every number of the diagnosis as plain JSON data (NaN as None)."""
    advice = diagnosis.freeze_advice
    return files.plain(
        {
            "model": diagnosis.model,
            "images": diagnosis.images,
            "labelled": diagnosis.labelled,
            "classes": diagnosis.classes,
            "class_names": diagnosis.class_names,
            "output_gradient_norm": diagnosis.output_gradient_norm,
            "thresholds": {
                "saturated_share": SATURATED_SHARE,
                "vanishing_ratio": VANISHING,
                "exploding_ratio": EXPLODING,
                "min_images": MIN_IMAGES,
                "bound_confidence": BOUND_CONFIDENCE,
                "explained": _EXPLAINED,
            },
            "warnings": diagnosis.warnings,
            "probe_chance": diagnosis.probe_chance,
            "probe_settings": None
            if advice is None
            else {
                "method": f"multinomial logistic regression, L2 penalty by {probes.FOLDS}-fold CV in each "
                "training split",
                "splits": probes.SPLITS,
                "held_out": probes.HELD_OUT,
                "permutations": probes.PERMUTATIONS,
                "confidence": probes.CONFIDENCE,
                "alpha": advice.alpha,
                "seed": diagnosis.probe_seed,
            },
            "freeze_verdict": diagnosis.freeze_verdict,
            "freeze_up_to": diagnosis.freeze_up_to,
            "freeze_rule": diagnosis.freeze_rule,
            "freeze_advice": None if advice is None else advice.to_dict(),
            "compare_model": diagnosis.compare_model,
            "compare_layers": diagnosis.compare_layers,
            "cka": None if diagnosis.cka is None else diagnosis.cka.tolist(),
            "settings": diagnosis.settings,
            "seconds": round(diagnosis.seconds, 2),
            "provenance": frame.provenance(diagnosis.model, diagnosis.settings, diagnosis.fingerprint),
            "layers": [_layer_numbers(layer) for layer in diagnosis.layers],
        }
    )


def _layer_numbers(layer: LayerHealth) -> dict[str, Any]:
    result = layer.probe
    return {
        "layer": layer.layer,
        "type": layer.type,
        "activation": layer.activation,
        "last_op": layer.last_op,
        "rectified": layer.rectified,
        "channels": layer.channels,
        "support": {
            "images": layer.images,
            "positions": layer.positions,
            "values": layer.images * layer.positions,
            # a channel never positive on them may still be positive on up to this share of ...
            "fire_rate_bound_images": rate_bound(layer.images),  # ... images like them
            "fire_rate_bound_positions": rate_bound(layer.images * layer.positions),  # ... positions
            "confidence": BOUND_CONFIDENCE,
            "enough_images": layer.images >= MIN_IMAGES,
        },
        "mean": layer.mean,
        "std": layer.std,
        "sparsity": layer.sparsity,
        "dead_channels": layer.dead if layer.rectified else None,
        "saturated_channels": layer.saturated if layer.cap is not None else None,
        "always_on_channels": layer.always_on if layer.rectified else None,
        "cap": layer.cap,
        "gradient_norm": layer.gradient_norm,
        "gradient_ratio": layer.gradient_ratio,
        "parameter_gradient_norm": layer.parameter_gradient_norm,
        "weight_norm": layer.weight_norm,
        "probe_accuracy": layer.probe_accuracy,
        "probe_stderr": layer.probe_stderr,
        "probe": None
        if result is None
        else {
            "accuracy": result.accuracy,
            "ci_low": result.ci_low,
            "ci_high": result.ci_high,
            "stderr": result.stderr,
            "chance": result.chance,
            "p_value": result.p_value,
            "p_value_holm": layer.probe_p_adjusted,
            "p_value_below_best": layer.probe_p_below_best,
            "penalty": result.penalty,
            "split_accuracies": list(result.split_accuracies),
            "split_penalties": list(result.split_penalties),
            "n_train": result.n_train,
            "n_test": result.n_test,
        },
        "flags": layer.flags,
    }


def _charts(diagnosis: DiagnosisData) -> dict[str, str]:
    """``{name: SVG text}`` of the diagnosis's charts."""
    names = [layer.layer for layer in diagnosis.layers]
    layers = diagnosis.layers
    health: dict[str, list[float | None]] = {
        "sparsity (share of values <= 0)": [layer.sparsity for layer in layers],
        "dead channels (share)": [
            len(layer.dead) / layer.channels if layer.rectified else None for layer in layers
        ],
        "saturated channels (share)": [
            len(layer.saturated) / layer.channels if layer.cap is not None else None for layer in layers
        ],
    }
    drawn = {
        "activations": charts.by_depth(
            names,
            # a count that applies to no layer here is left out, not drawn as zero
            {name: values for name, values in health.items() if any(v is not None for v in values)},
            title=f"Unit health by depth ({diagnosis.images} images)",
            y_label="share",
            bars=True,
            low=0.0,
            high=1.0,
            note="dead and saturated shares only where the layer is rectified / capped (ReLU, ReLU6)",
        ),
        "gradients": charts.by_depth(
            names,
            {"gradient norm ratio": [layer.gradient_ratio for layer in layers]},
            title="Gradient health by depth",
            y_label="gradient norm / deepest layer's (log)",
            log=True,
            references=[("vanishing below", VANISHING), ("exploding above", EXPLODING)],
        ),
    }
    if diagnosis.labelled and diagnosis.freeze_advice is not None:
        advice = diagnosis.freeze_advice
        probed = [layer.probe for layer in layers]
        mark = None if advice.layer is None else (names.index(advice.layer), f"freeze up to {advice.layer}")
        drawn["probes"] = charts.by_depth(
            names,
            {"probe accuracy": [layer.probe_accuracy for layer in layers]},
            title="Which layers carry your labels",
            y_label=f"held-out accuracy ({probes.CONFIDENCE:.0%} CI)",
            references=[("chance", diagnosis.probe_chance or 0.0)],
            low=0.0,
            high=1.0,
            errors={"probe accuracy": [None if r is None else (r.ci_low, r.ci_high) for r in probed]},
            hollow={"probe accuracy": [(layer.probe_p_adjusted or 1.0) >= advice.alpha for layer in layers]},
            mark=mark,
            note="filled: better than chance (Holm-adjusted p < 0.05); hollow: not",
        )
    if diagnosis.cka is not None:
        drawn["cka"] = charts.heat_map(
            diagnosis.cka.tolist(),
            names,
            diagnosis.compare_layers,
            title=f"Linear CKA: {diagnosis.model} vs {diagnosis.compare_model}",
            row_label=f"{diagnosis.model} layer",
            col_label=f"{diagnosis.compare_model} layer",
        )
    return drawn


def write_report(diagnosis: DiagnosisData, out: Path) -> Path:
    """Write the report of ``diagnosis`` into ``out``; returns ``out/index.html``."""
    charts_written: dict[str, str] = {}
    for name, svg in _charts(diagnosis).items():
        files.write_text(svg, out / f"{name}.svg")
        charts_written[name] = f"{name}.svg"
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
    """A static view for notebooks: the verdict and its reasoning, warnings, the charts, and per
    layer its activation, unit counts with their support, gradient ratio and probe with its
    interval (every string as text, through the page kit)."""
    e = html.element
    head = (
        "layer",
        "activation",
        "rectified",
        "dead / channels",
        "saturated",
        "gradient ratio",
        "probe (95 % CI)",
        "p vs chance",
        "flags",
    )
    rows = []
    for layer in diagnosis.layers:
        result = layer.probe
        rows.append(
            e(
                "tr",
                e("td", layer.layer),
                e("td", _activation_text(layer)),
                e("td", "yes" if layer.rectified else "no"),
                e("td", f"{len(layer.dead)} / {layer.channels}" if layer.rectified else "n/a"),
                e("td", str(len(layer.saturated)) if layer.cap is not None else "n/a"),
                e("td", "—" if _number(layer.gradient_ratio) is None else f"{layer.gradient_ratio:.2g}"),
                e("td", "—" if result is None else _interval(result)),
                e("td", "—" if layer.probe_p_adjusted is None else f"{layer.probe_p_adjusted:.2g}"),
                e("td", "; ".join(layer.flags) or "—"),
            )
        )
    support = diagnosis.layers[0] if diagnosis.layers else None
    counted = (
        f" Unit counts rest on {support.images} images × {support.positions} positions (first layer)."
        if support is not None
        else ""
    )
    parts = [
        e("p", e("b", diagnosis.model), f" on {diagnosis.images} images.{counted}"),
    ]
    if diagnosis.freeze_verdict:
        parts.append(e("p", e("b", diagnosis.freeze_verdict), " ", diagnosis.freeze_rule or ""))
    parts += [e("p", e("b", "Warning: "), warning) for warning in diagnosis.warnings]
    parts.append(e("table", e("tr", *(e("th", name) for name in head)), *rows))
    parts += [
        html.image(svg.encode("utf-8"), name, width=None, kind="image/svg+xml")
        for name, svg in _charts(diagnosis).items()
    ]
    return e("div", *parts)


def _interval(result: probes.ProbeResult) -> str:
    return f"{result.accuracy:.3f} ({result.ci_low:.3f}–{result.ci_high:.3f})"


def _activation_text(layer: LayerHealth) -> str:
    """``ReLU6``, or ``none (BatchNormAct2d)``: what the layer's values last went through."""
    return f"none ({layer.last_op})" if layer.activation == "none" else layer.activation


# Static markup only: every string from the model or the user is set from the JSON data with
# textContent by page.css and page.js (beside this module), after the page kit's kit.css and kit.js.
_BODY = """<h1 id="title"></h1>
<div class="sub" id="subtitle"></div>
<ul class="warnings" id="warnings"></ul>
<h2>Which layers to freeze</h2>
<p class="verdict" id="verdict"></p>
<p id="rule"></p>
<table id="probes"><thead><tr>
<th>layer</th><th>probe accuracy</th><th>95 % CI</th><th>p vs chance (Holm)</th>
<th>p worse than the best</th><th>penalty λ</th>
</tr></thead><tbody id="probe-rows"></tbody></table>
<h2>Charts</h2>
<div class="charts" id="charts"></div>
<h2>Layers</h2>
<p class="sub" id="support"></p>
<table><thead><tr>
<th>layer</th><th>type</th><th>activation</th><th>rectified</th><th>channels</th><th>images × positions</th>
<th>mean</th><th>std</th><th>sparsity</th><th>dead</th><th>saturated</th><th>always on</th>
<th>gradient ratio</th><th>probe accuracy</th><th>flags</th>
</tr></thead><tbody id="rows"></tbody></table>
<h2>Flagged channels</h2>
<div class="flagged" id="flagged"></div>
<h2>How to read it</h2>
<p id="thresholds"></p>"""


__all__ = ["write_report", "numbers", "notebook_html"]
