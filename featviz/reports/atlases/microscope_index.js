// The microscope's index (microscope_page.py): each layer with its first units as thumbnails (the
// rest behind a "+k more" link to the layer's page), and a search box for a unit.
const rows = document.getElementById("layers");
for (const layer of data.layers) {
  const row = element("section", "layer-row");
  const head = element("div", "layer-head");
  head.appendChild(link(layerPage(layer.index), layer.layer));  // first: the layer's page
  const grid = layer.grid.join("x");
  head.appendChild(element("span", "sub",
    "depth " + layer.index + " · " + layer.type + " · " + layer.layout + " · " + layer.channels +
    " channels" + (grid ? " on a " + grid + " grid" : "") + " · " + layer.units.length + " units shown"));
  if (layer.activation_atlas) head.appendChild(link(layer.activation_atlas, "activation atlas"));
  row.appendChild(head);
  const strip = element("div", "thumbs");
  for (const unit of layer.units.slice(0, data.thumbnails)) {
    const a = link(unitPage(layer.index, unit.channel));
    a.className = "thumb";
    a.appendChild(picture(unit.file, "render: " + layer.layer + ":" + unit.channel));
    a.appendChild(element("span", "", String(unit.channel)));
    strip.appendChild(a);
  }
  const more = layer.units.length - data.thumbnails;
  if (more > 0) {
    const a = link(layerPage(layer.index), "+" + more + " more");
    a.className = "more";
    strip.appendChild(a);
  }
  if (!layer.units.length) strip.appendChild(element("span", "sub", "no units rendered"));
  row.appendChild(strip);
  rows.appendChild(row);
}
function find(query) {
  const cut = query.lastIndexOf(":");
  if (cut < 1) return null;
  const name = query.slice(0, cut).trim();
  const channel = Number(query.slice(cut + 1).trim());
  const layer = data.layers.find((l) => l.layer === name);
  if (!layer || !Number.isInteger(channel)) return null;
  return layer.units.some((u) => u.channel === channel) ? unitPage(layer.index, channel) : null;
}
document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = document.getElementById("query").value;
  const target = find(query);
  document.getElementById("message").textContent = target ? "" : "no such unit in this microscope: " + query;
  if (target) window.location.href = target;
});
