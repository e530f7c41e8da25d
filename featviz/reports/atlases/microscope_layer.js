// A layer's page of the microscope (microscope_page.py): a tile per unit, sorted by channel or score.
const layer = data.layer;
const neighbours = document.getElementById("neighbours");
for (const [index, text] of [[data.previous, "previous layer"], [data.next, "next layer"]]) {
  if (index !== null) neighbours.appendChild(link(layerPage(index), text));
}
if (layer.activation_atlas) neighbours.appendChild(link(layer.activation_atlas, "activation atlas"));
function tile(unit) {
  const a = link(unitPage(layer.index, unit.channel));
  a.className = "tile";
  a.appendChild(picture(unit.file, layer.layer + ":" + unit.channel));
  const draft = unit.draft ? " · draft" : "";
  a.appendChild(element("span", "", unit.channel + " · " + significant(unit.score, 3) + draft));
  return a;
}
function draw() {
  const byScore = document.getElementById("sort").value === "score";
  const units = layer.units.slice().sort(
    (a, b) => byScore ? (b.score || 0) - (a.score || 0) : a.channel - b.channel);
  document.getElementById("grid").replaceChildren(...units.map(tile));
}
document.getElementById("sort").addEventListener("change", draw);
draw();
