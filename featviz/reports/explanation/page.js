// The report of an explanation (page.py), after the page kit's kit.js.
const data = readData();
// A channel's render beside its map over the photo, captioned.
function pair(render, map, caption) {
  const fig = element("figure", "pair");
  const imgs = element("div", "imgs");
  imgs.appendChild(picture(render, "render: " + caption));
  imgs.appendChild(picture(map, "map: " + caption));
  fig.appendChild(imgs);
  fig.appendChild(element("figcaption", "", caption));
  return fig;
}
document.getElementById("title").textContent = data.title;
document.getElementById("subtitle").textContent = data.subtitle;
if (data.interrupted) document.getElementById("interrupted").textContent =
  "Stopped early: the renders not finished are marked; run the same command again to complete them.";
const photo = document.getElementById("photo");
photo.src = data.photo;
document.getElementById("photo-caption").textContent = data.source + " (as the model sees it)";
const predictions = document.getElementById("predictions");
for (const p of data.predictions) {
  predictions.appendChild(element("li", "", p.name + " (" + p.class + "): " + fixed(p.probability, 3)));
}
document.getElementById("target").textContent =
  "Attribution is for: " + data.target_name + " (" + data.target + ")";
const evolution = document.getElementById("evolution");
for (const layer of data.layers) {
  if (!layer.top.length) continue;
  const best = layer.top[0];
  evolution.appendChild(pair(best.render, best.map, layer.layer + ":" + best.channel));
}
const sections = document.getElementById("layers");
for (const layer of data.layers) {
  const section = element("section");
  section.appendChild(element("h2", "", layer.layer));
  section.appendChild(element("div", "sub",
    layer.channels + " channels on a " + layer.grid.join("x") + " grid; activation grid of " +
    layer.cells.join("x") + " cells (" + layer.cells_rendered + " of " + layer.cells_total + " rendered)"));
  const maps = element("div", "row");
  maps.appendChild(figure(layer.strength, "activation strength (norm per position)"));
  maps.appendChild(figure(layer.activation_grid, "activation grid: what each part of the layer sees", "big"));
  maps.appendChild(figure(layer.grad_cam, "Grad-CAM for " + data.target_name));
  maps.appendChild(figure(layer.attribution, "gradient x activation (red adds, blue takes away)"));
  section.appendChild(maps);
  section.appendChild(element("h3", "", "Semantic dictionary: top channels by mean activation"));
  const top = element("div", "row");
  for (const c of layer.top) {
    top.appendChild(pair(c.render, c.map, "channel " + c.channel + " · mean " + fixed(c.value, 3)));
  }
  section.appendChild(top);
  if (layer.groups.length) {
    section.appendChild(element("h3", "",
      "Neuron groups (NMF): together they explain " + fixed(layer.explained_variance * 100, 1) +
      "% of the variance of the positive activations"));
    const groups = element("div", "row");
    layer.groups.forEach((g, i) => {
      const mix = g.channels.map((c) => c.channel).join(", ");
      const caption = "group " + (i + 1) + " · " + fixed(g.share * 100, 1) + "% · channels " + mix;
      groups.appendChild(pair(g.render, g.map, caption));
    });
    section.appendChild(groups);
  }
  section.appendChild(element("h3", "",
    "Channels that add most to " + data.target_name + " (gradient x activation)"));
  const attributing = element("div", "row");
  for (const c of layer.attributing) {
    attributing.appendChild(pair(c.render, c.map, "channel " + c.channel + " · " + fixed(c.value, 4)));
  }
  section.appendChild(attributing);
  sections.appendChild(section);
}
