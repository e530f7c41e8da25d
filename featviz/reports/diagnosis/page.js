// The report of a diagnosis (page.py), after the page kit's kit.js.
const data = readData();
const record = data.record;
document.getElementById("title").textContent = data.title;
const named = record.class_names.length ? " (" + record.class_names.join(", ") + ")" : "";
document.getElementById("subtitle").textContent =
  (record.labelled ? record.classes + " classes" + named + " · " : "no labels · ") + record.layers.length +
  " layers · " + record.seconds + " s · featviz " + record.provenance.featviz +
  (record.compare_model ? " · compared with " + record.compare_model : "");

const warnings = document.getElementById("warnings");
for (const text of record.warnings) warnings.appendChild(element("li", "", text));
if (!record.warnings.length) warnings.hidden = true;

// The verdict: a layer only where the probes support it.
document.getElementById("verdict").textContent = record.freeze_verdict ||
  "No labels: give labels (labels=..., or --labels-from-folders) for linear probes and a freezing verdict.";
document.getElementById("rule").textContent = record.freeze_rule || "";
const probeRows = document.getElementById("probe-rows");
for (const layer of record.layers) {
  if (!layer.probe) continue;
  const p = layer.probe;
  const tr = document.createElement("tr");
  if (record.freeze_up_to === layer.layer) tr.className = "chosen";
  const cells = [layer.layer, fixed(p.accuracy, 3), fixed(p.ci_low, 3) + "–" + fixed(p.ci_high, 3),
    significant(p.p_value_holm, 2), significant(p.p_value_below_best, 2), significant(p.penalty, 2)];
  for (const text of cells) tr.appendChild(element("td", "", text));
  probeRows.appendChild(tr);
}
if (!probeRows.children.length) document.getElementById("probes").hidden = true;

const charts = document.getElementById("charts");
for (const key of Object.keys(data.charts)) charts.appendChild(picture(data.charts[key], key + " chart", "", null));

// Unit health: each count with what it rests on.
const rectified = record.layers.filter((layer) => layer.rectified).length;
document.getElementById("support").textContent = rectified ?
  "Dead, saturated and always-on counts are over every position of every image given (images × " +
  "positions per image); they are shown only for rectified layers (" + rectified + " of " +
  record.layers.length + " here)." :
  "No layer here is rectified (its values do not end in a ReLU or ReLU6), so no channel is called " +
  "dead, saturated or always on; diagnose layers='activations' (--layers activations) for those.";
const count = (list) => list === null ? "n/a" : String(list.length);
const rows = document.getElementById("rows");
for (const layer of record.layers) {
  const tr = document.createElement("tr");
  const activation = layer.activation === "none" ? "none (" + layer.last_op + ")" : layer.activation;
  const cells = [layer.layer, layer.type, activation, layer.rectified ? "yes" : "no", String(layer.channels),
    layer.support.images + " × " + layer.support.positions, significant(layer.mean, 3),
    significant(layer.std, 3), significant(layer.sparsity, 3), count(layer.dead_channels),
    count(layer.saturated_channels), count(layer.always_on_channels), significant(layer.gradient_ratio, 3),
    layer.probe ? fixed(layer.probe.accuracy, 3) + " ± " + fixed(layer.probe.stderr, 3) : "n/a"];
  for (const text of cells) tr.appendChild(element("td", "", text));
  tr.appendChild(element("td", "flags", layer.flags.join("; ")));
  rows.appendChild(tr);
}
const flagged = document.getElementById("flagged");
if (!data.flagged.length) flagged.textContent = "No rendered flagged channels.";
for (const item of data.flagged) {
  const name = item.layer + ":" + item.channel;
  const fig = element("figure");
  fig.appendChild(picture(item.file, name, "", null));
  fig.appendChild(element("figcaption", "", name + " (" + item.kind + ")"));
  flagged.appendChild(fig);
}
document.getElementById("thresholds").textContent = record.thresholds.explained;
