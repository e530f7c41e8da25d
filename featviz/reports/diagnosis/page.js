// The report of a diagnosis (page.py), after the page kit's kit.js.
const data = readData();
const record = data.record;
document.getElementById("title").textContent = data.title;
const named = record.class_names.length ? " (" + record.class_names.join(", ") + ")" : "";
document.getElementById("subtitle").textContent =
  (record.labelled ? record.classes + " classes" + named + " · " : "no labels · ") + record.layers.length +
  " layers · " + record.seconds + " s · featviz " + record.provenance.featviz +
  (record.compare_model ? " · compared with " + record.compare_model : "");
const charts = document.getElementById("charts");
for (const key of Object.keys(data.charts)) charts.appendChild(picture(data.charts[key], key, "", null));
document.getElementById("rule").textContent = record.freeze_rule ||
  "Give labels (labels=..., or --labels-from-folders) for linear probes and a freezing suggestion.";
const rows = document.getElementById("rows");
for (const layer of record.layers) {
  const tr = document.createElement("tr");
  const cells = [layer.layer, layer.type, String(layer.channels), significant(layer.mean, 3),
    significant(layer.std, 3), significant(layer.sparsity, 3), String(layer.dead_channels.length),
    String(layer.saturated_channels.length), significant(layer.gradient_ratio, 3),
    significant(layer.probe_accuracy, 3)];
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
