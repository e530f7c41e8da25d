// The microscope's index (microscope_page.py): its layers, and a search box for a unit.
const rows = document.getElementById("layers");
for (const layer of data.layers) {
  const tr = document.createElement("tr");
  tr.appendChild(element("td", "", String(layer.index)));
  const name = element("td");
  name.appendChild(link(layerPage(layer.index), layer.layer));
  tr.appendChild(name);
  for (const text of [layer.type, layer.layout, String(layer.channels), layer.grid.join("x") || "-",
                      String(layer.units.length)]) tr.appendChild(element("td", "", text));
  const space = element("td");
  const atlasLink = layer.activation_atlas ? link(layer.activation_atlas, "atlas") : element("span", "", "-");
  space.appendChild(atlasLink);
  tr.appendChild(space);
  rows.appendChild(tr);
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
