// The page of an activation atlas (activation_page.py), after the page kit's kit.js.
const data = readData();
const atlas = data.atlas;
function name(cell) { return "r" + pad(cell.row, 2) + "_c" + pad(cell.col, 2); }
function summary(cell) {
  const classes = cell.classes.map((c) => c.name).join(", ");
  return "row " + cell.row + ", column " + cell.col + ": " + cell.count + " activations from " +
    cell.photos + " photos" + (classes ? "; raises " + classes : "");
}
document.title = data.title;
document.getElementById("title").textContent = data.title;
const links = document.getElementById("links");
for (const [href, text] of data.links) links.appendChild(link(href, text));
const seconds = atlas.seconds;
document.getElementById("facts").textContent =
  atlas.vectors + " activation vectors from " + atlas.photos + " photos, laid out by " + atlas.layout +
  " on a " + atlas.grid + "x" + atlas.grid + " grid; " + atlas.cells.length + " cells hold at least " +
  atlas.min_count + " vectors and show the render of their mean activation (" + atlas.settings.steps +
  " steps, " + atlas.settings.size + " px)." +
  (atlas.interrupted ? " Interrupted: some cells are missing." : "") +
  " Seconds: " + Object.entries(seconds).map(([k, v]) => k + " " + v).join(", ") + ".";
const byPlace = new Map(atlas.cells.map((cell) => [cell.row * atlas.grid + cell.col, cell]));
const overlay = document.getElementById("cells");
overlay.style.setProperty("--grid", String(atlas.grid));
for (let i = 0; i < atlas.grid * atlas.grid; i++) {
  const cell = byPlace.get(i);
  if (!cell) { overlay.appendChild(element("span")); continue; }
  const a = link("#" + name(cell));
  a.title = summary(cell);
  a.setAttribute("aria-label", summary(cell));
  overlay.appendChild(a);
}
const list = document.getElementById("list");
for (const cell of atlas.cells.slice().sort((a, b) => b.count - a.count)) {
  const box = element("div", "cell");
  box.id = name(cell);
  const pair = element("div", "pair");
  for (const [folder, alt] of [["cells/", "render"], ["patches/", cell.patch_source]]) {
    if (folder === "cells/" && !data.rendered.includes(name(cell))) continue;
    pair.appendChild(picture(folder + name(cell) + ".jpg", alt));
  }
  box.appendChild(pair);
  box.appendChild(element("div", "", summary(cell)));
  box.appendChild(element("div", "", "photo: " + cell.patch_source));
  list.appendChild(box);
}
document.getElementById("layout").textContent =
  "Where the " + atlas.vectors + " activation vectors fell in the " + atlas.layout +
  " layout (darker: more); the grid cuts this square into " + atlas.grid + "x" + atlas.grid + " cells.";
