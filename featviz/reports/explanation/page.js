// The report of an explanation (page.py), after the page kit's kit.js. Every string from the
// model, the photo's name or the user is set with textContent; positions with CSSOM properties.
const data = readData();
const MAPS = {grad_cam: "Grad-CAM", attribution: "gradient x activation"};
const SCALES = {
  strength: {title: "strength scale: activation strength, Grad-CAM, channel, group and concept maps",
             ticks: ["0", "half the map's peak", "the map's peak"]},
  signed: {title: "signed scale: gradient x activation",
           ticks: ["against " + data.target_name, "0", "for " + data.target_name]},
};

// A colour scale: its title, the strip, and what its ends and middle mean.
function legendBox(kind) {
  const scale = SCALES[kind];
  const box = element("figure", "legend");
  box.dataset.scale = kind;
  box.appendChild(element("figcaption", "", scale.title));
  box.appendChild(picture(data.legends[kind], "colour scale: " + scale.title));
  const ticks = element("div", "ticks");
  for (const tick of scale.ticks) ticks.appendChild(element("span", "", tick));
  box.appendChild(ticks);
  return box;
}
function legends() {
  const box = element("div", "legends");
  box.appendChild(legendBox("strength"));
  box.appendChild(legendBox("signed"));
  return box;
}
// A picture with a visible label above it that says what it is: a render, or a map and its scale.
function labelled(file, label, alt, className) {
  const fig = element("figure", "labelled" + (className ? " " + className : ""));
  fig.appendChild(element("div", "tag", label));
  fig.appendChild(picture(file, alt));
  return fig;
}
// A channel's (or group's) render beside its map over the photo, each labelled, captioned.
function pair(render, map, caption, scale) {
  const fig = element("figure", "pair");
  const imgs = element("div", "imgs");
  imgs.appendChild(labelled(render, "render", "render: " + caption));
  imgs.appendChild(labelled(map, "map (" + scale + " scale)", "map (" + scale + " scale): " + caption));
  fig.appendChild(imgs);
  fig.appendChild(element("figcaption", "", caption));
  return fig;
}
function how(text) { return element("p", "how", text); }

document.getElementById("title").textContent = data.title;
document.getElementById("subtitle").textContent = data.subtitle;
if (data.interrupted) document.getElementById("interrupted").textContent =
  "Stopped early: the renders not finished are marked; run the same command again to complete them.";
const photo = document.getElementById("photo");
photo.src = data.photo;
document.getElementById("photo-caption").textContent =
  "photo: " + data.source + " (as the model sees it)";
document.getElementById("legends").appendChild(legends());
const predictions = document.getElementById("predictions");
for (const p of data.predictions) {
  predictions.appendChild(element("li", "", p.name + " (" + p.class + "): " + fixed(p.probability, 3)));
}
document.getElementById("target").textContent =
  "Grad-CAM and gradient x activation are for: " + data.target_name + " (" + data.target + ")";

// -- point at the photo: each layer's activation-grid cell there (Olah et al.'s building blocks) --
const frameBox = document.getElementById("photo-frame");
const marker = document.getElementById("marker");
const blocks = document.getElementById("blocks");
// per layer: channel -> the file of its render, for the channels the report rendered
const channelRenders = data.layers.map((layer) => {
  const found = new Map();
  for (const c of layer.top.concat(layer.attributing)) {
    if (c.render && !found.has(c.channel)) found.set(c.channel, c.render);
  }
  return found;
});
let at = [data.start.x, data.start.y];
let pinned = false;
function clamp(v) { return Math.min(Math.max(v, 0), 0.9999); }
function cellAt(layer, x, y) {
  const [rows, cols] = layer.cells;
  return [Math.min(rows - 1, Math.floor(y * rows)), Math.min(cols - 1, Math.floor(x * cols))];
}
function blockRow(layer, index, x, y) {
  const [rows, cols] = layer.cells;
  const [row, col] = cellAt(layer, x, y);
  const cell = layer.grid_cells[row * cols + col];
  const box = element("div", "block");
  box.dataset.layer = layer.layer;
  box.dataset.cell = row + "," + col;
  const head = element("div", "block-head");
  head.appendChild(element("b", "", layer.layer));
  const share = layer.peak_cell_strength ? cell.strength / layer.peak_cell_strength : 0;
  head.appendChild(element("div", "sub",
    "cell row " + (row + 1) + ", column " + (col + 1) + " of " + rows + "x" + cols +
    "; strength " + fixed(cell.strength, 2) + " (" + fixed(100 * share, 0) +
    "% of the layer's strongest cell)"));
  box.appendChild(head);
  const what = layer.layer + " cell " + (row + 1) + "," + (col + 1);
  const render = labelled(cell.render, "render of this cell", "render: " + what, "cell");
  if (!cell.render && !(cell.strength > 0)) render.lastChild.textContent = "no activation here";
  box.appendChild(render);
  const list = element("ol", "channels");
  const peak = Math.max(1e-12, ...cell.channels.map((c) => Math.abs(c.value || 0)));
  for (const c of cell.channels) {
    const item = element("li");
    const render = channelRenders[index].get(c.channel);
    if (render) item.appendChild(picture(render, "render: " + layer.layer + ":" + c.channel, "thumb"));
    item.appendChild(element("span", "channel", "channel " + c.channel));
    const bar = element("span", "bar");
    bar.style.width = Math.round(80 * Math.max(0, c.value || 0) / peak) + "px";
    item.appendChild(bar);
    item.appendChild(element("span", "value", fixed(c.value, 3)));
    list.appendChild(item);
  }
  box.appendChild(list);
  return box;
}
function select(x, y) {
  at = [clamp(x), clamp(y)];
  marker.style.left = (100 * at[0]).toFixed(2) + "%";
  marker.style.top = (100 * at[1]).toFixed(2) + "%";
  frameBox.dataset.at = at[0].toFixed(3) + "," + at[1].toFixed(3);
  blocks.replaceChildren(...data.layers.map((layer, i) => blockRow(layer, i, at[0], at[1])));
  document.getElementById("at").textContent =
    "At " + fixed(100 * at[0], 0) + "% across and " + fixed(100 * at[1], 0) + "% down the photo " +
    (pinned ? "(pinned: click the photo to follow the pointer again)" : "(click to pin this place)");
}
// Where an event is, as fractions of the photo's picture (inside its border).
function fromEvent(event) {
  const box = photo.getBoundingClientRect();
  return [(event.clientX - box.left - photo.clientLeft) / photo.clientWidth,
          (event.clientY - box.top - photo.clientTop) / photo.clientHeight];
}
frameBox.addEventListener("mousemove", (event) => { if (!pinned) select(...fromEvent(event)); });
frameBox.addEventListener("click", (event) => { pinned = !pinned; select(...fromEvent(event)); });
frameBox.addEventListener("keydown", (event) => {
  const moves = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
  const move = moves[event.key];
  if (!move) return;
  event.preventDefault();
  pinned = true;
  select(at[0] + move[0] / 10, at[1] + move[1] / 10);
});
select(at[0], at[1]);

// -- which map to believe ---------------------------------------------------------------------------
function verdict(f) {
  if (f.constant_map) return "the map is flat: it ranks nothing";
  if (!(f.span >= data.min_span)) return "the blurred photo is classed as the photo is: no verdict";
  const d = f.beats_random.deletion, i = f.beats_random.insertion;
  if (d && i) return "better than random on both: believable";
  if (d || i) return "better than random on " + (d ? "deletion" : "insertion") + " only: with care";
  return "no better than random: do not rely on it";
}
function faithTable(layers) {
  const table = element("table", "faith");
  const head = element("tr");
  for (const name of ["layer", "map", "deletion AUC (lower is better)", "random orders' deletion AUC",
                      "insertion AUC (higher is better)", "random orders' insertion AUC",
                      "insertion - deletion",
                      "verdict"]) head.appendChild(element("th", "", name));
  table.appendChild(head);
  const rows = [];
  for (const layer of layers) {
    for (const [key, name] of Object.entries(MAPS)) {
      const f = layer.faithfulness[key];
      if (!f) continue;
      const tr = element("tr");
      tr.dataset.map = key;
      for (const text of [layer.layer, name, fixed(f.deletion_auc, 3), fixed(f.random_deletion_auc, 3),
                          fixed(f.insertion_auc, 3), fixed(f.random_insertion_auc, 3), fixed(f.score, 3),
                          verdict(f)]) tr.appendChild(element("td", "", text));
      rows.push([f.constant_map ? -Infinity : f.score, tr]);
      table.appendChild(tr);
    }
  }
  if (!rows.length) {
    return element("p", "sub", data.faithfulness_pending
      ? "Being measured: this page reloads itself when it is done."
      : "Not measured (explain(..., faithfulness=False)).");
  }
  if (rows.length > 1) rows.reduce((a, b) => (b[0] > a[0] ? b : a))[1].classList.add("best");
  return table;
}
// A small chart of a map's deletion and insertion curves (solid) and the random orders' (dashed).
function curves(f, title) {
  const fig = element("figure", "curves");
  fig.appendChild(element("div", "tag", title));
  const canvas = element("canvas");
  canvas.width = 220;
  canvas.height = 110;
  canvas.setAttribute("aria-label", title + ": deletion and insertion curves");
  const ctx = canvas.getContext("2d");
  const [left, top, w, h] = [24, 6, 190, 86];
  ctx.strokeStyle = "#999";
  ctx.strokeRect(left, top, w, h);
  ctx.fillStyle = "#555";
  ctx.font = "10px sans-serif";
  ctx.fillText("1", 12, top + 8);
  ctx.fillText("0", 12, top + h);
  ctx.fillText("share of pixels 0 → 1", left + 40, top + h + 14);
  const lines = [[f.deletion, "#3b4cc0", []], [f.random_deletion, "#3b4cc0", [4, 3]],
                 [f.insertion, "#b40426", []], [f.random_insertion, "#b40426", [4, 3]]];
  for (const [points, colour, dash] of lines) {
    if (!points || points.length < 2) continue;
    ctx.beginPath();
    ctx.setLineDash(dash);
    ctx.strokeStyle = colour;
    points.forEach((p, i) => {
      const x = left + (w * i) / (points.length - 1), y = top + h * (1 - (p || 0));
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
  }
  fig.appendChild(canvas);
  fig.appendChild(element("figcaption", "",
    "probability of " + data.target_name + ": blue deletion, red insertion; solid the map's order, " +
    "dashed random orders"));
  return fig;
}
document.getElementById("faithfulness").appendChild(faithTable(data.layers));

// -- concepts in this photo (explain(..., concepts=DICT)): a dictionary's concepts that add most ---
function conceptsSection(c) {
  const section = element("section");
  section.id = "concepts-in-photo";
  section.appendChild(element("h2", "", "Concepts in this photo"));
  section.appendChild(element("div", "sub",
    c.method.toUpperCase() + " dictionary of " + c.size + " concepts at " + c.layer + " (a " +
    c.grid.join("x") + " grid; dictionary " + c.fingerprint + ")"));
  section.appendChild(how(
    "A concept is a direction in " + c.layer + "'s activation space, learned from many photos: " +
    "each place's activation vector is read as a non-negative mix of the dictionary's concepts. " +
    "A concept's render is a picture made to excite its direction (what it looks like to the " +
    "model); its map is how much of it is at each place of the photo (its code, strength scale, " +
    "scaled to its own peak). Its contribution is gradient x concept activation, summed over the " +
    "photo: how much it adds to the score of " + data.target_name + "; the share is its part of " +
    "what all the concepts that add to the class add together. Shown: those that add most."));
  section.appendChild(element("div", "sub",
    "All " + c.size + " concepts together add " + significant(c.total_contribution, 4) +
    " to the score (gradient x reconstruction); those that add to it, " +
    significant(c.positive_contribution, 4) + "."));
  const row = element("div", "row");
  for (const k of c.concepts) {
    const caption = "concept " + k.concept + " · adds " + significant(k.contribution, 3) + " (" +
      fixed(100 * k.share, 1) + "%) · peak code " + significant(k.peak, 3);
    row.appendChild(pair(k.render, k.map, caption, "strength"));
  }
  if (!c.concepts.length) {
    row.appendChild(element("p", "sub", "No concept of the dictionary adds to " + data.target_name +
                                        " on this photo."));
  }
  row.appendChild(legendBox("strength"));
  section.appendChild(row);
  return section;
}
if (data.concepts) document.getElementById("concepts").appendChild(conceptsSection(data.concepts));

// -- evolution with depth, and one section per layer ---------------------------------------------------
const evolution = document.getElementById("evolution");
for (const layer of data.layers) {
  if (!layer.top.length) continue;
  const best = layer.top[0];
  evolution.appendChild(pair(best.render, best.map, layer.layer + ":" + best.channel, "strength"));
}
const sections = document.getElementById("layers");
for (const layer of data.layers) {
  const section = element("section");
  section.dataset.layer = layer.layer;
  section.appendChild(element("h2", "", layer.layer));
  section.appendChild(element("div", "sub",
    layer.channels + " channels on a " + layer.grid.join("x") + " grid; activation grid of " +
    layer.cells.join("x") + " cells (" + layer.cells_rendered + " of " + layer.cells_total + " rendered)"));
  section.appendChild(how(
    "Maps over a grey copy of the photo. Activation strength: how strongly the layer fires at each " +
    "place. Activation grid: the layer's view cell by cell (each cell's render, faded where the layer " +
    "fires weakly). Grad-CAM: where the evidence for " + data.target_name + " lies (Selvaraju et al. " +
    "2017). Gradient x activation: signed, red adds to the class and blue takes from it."));
  const maps = element("div", "row");
  maps.appendChild(labelled(layer.strength, "map (strength scale)", "map: activation strength", "map"));
  maps.lastChild.appendChild(element("figcaption", "", "activation strength (norm per position)"));
  maps.appendChild(labelled(layer.activation_grid, "renders (activation grid)",
                            "renders: activation grid", "big"));
  maps.lastChild.appendChild(element("figcaption", "", "activation grid: what each part of the layer sees"));
  maps.appendChild(labelled(layer.grad_cam, "map (strength scale)", "map: Grad-CAM", "map"));
  maps.lastChild.appendChild(element("figcaption", "", "Grad-CAM for " + data.target_name));
  maps.appendChild(labelled(layer.attribution, "map (signed scale)", "map: gradient x activation", "map"));
  maps.lastChild.appendChild(element("figcaption", "",
    "gradient x activation (red adds to " + data.target_name + ", blue takes away)"));
  maps.appendChild(legends());
  section.appendChild(maps);

  section.appendChild(element("h3", "", "Which of these maps to believe"));
  section.appendChild(how(
    "Deletion AUC: lower is better; insertion AUC: higher is better; each beside what random " +
    "pixel orders give (see \"Which map to believe\" at the top)."));
  section.appendChild(faithTable([layer]));
  const charts = element("div", "row");
  for (const [key, name] of Object.entries(MAPS)) {
    if (layer.faithfulness[key]) charts.appendChild(curves(layer.faithfulness[key], name));
  }
  section.appendChild(charts);

  section.appendChild(element("h3", "", "Semantic dictionary: top channels by mean activation"));
  section.appendChild(how("The channels that fire most on the photo: each one's render (what it " +
                          "responds to) and its map (where it fires, strength scale)."));
  const top = element("div", "row");
  for (const c of layer.top) {
    top.appendChild(pair(c.render, c.map, "channel " + c.channel + " · mean " + fixed(c.value, 3), "strength"));
  }
  section.appendChild(top);
  if (layer.groups.length) {
    section.appendChild(element("h3", "",
      "Neuron groups (NMF): together they explain " + fixed(layer.explained_variance * 100, 1) +
      "% of the variance of the positive activations"));
    section.appendChild(how("Groups of channels that fire together: each group's render (its " +
                            "channel mix as one direction) and where it fires; the share is its " +
                            "part of the activations."));
    const groups = element("div", "row");
    layer.groups.forEach((g, i) => {
      const mix = g.channels.map((c) => c.channel).join(", ");
      const caption = "group " + (i + 1) + " · " + fixed(g.share * 100, 1) + "% · channels " + mix;
      groups.appendChild(pair(g.render, g.map, caption, "strength"));
    });
    section.appendChild(groups);
  }
  section.appendChild(element("h3", "",
    "Channels that add most to " + data.target_name + " (gradient x activation)"));
  section.appendChild(how("Each channel's render, and its own gradient x activation over the photo " +
                          "(signed scale: red adds to the class, blue takes away)."));
  const attributing = element("div", "row");
  for (const c of layer.attributing) {
    attributing.appendChild(pair(c.render, c.map, "channel " + c.channel + " · " + fixed(c.value, 4), "signed"));
  }
  section.appendChild(attributing);
  sections.appendChild(section);
}
