// The atlas gallery (gallery.py), after the page kit's kit.js. Elements are made with
// createElement and filled with textContent / properties; no string of HTML is ever parsed.
const data = readData();
const grid = document.getElementById("grid");
const overlay = document.getElementById("overlay");
document.getElementById("title").textContent = data.title;
document.getElementById("subtitle").textContent = data.subtitle;

function exemplars(entry) {
  return entry.exemplars.map((file, i) => ({ file: file, source: entry.exemplar_sources[i] || "" }));
}
// Renders have no tooltip; an exemplar's is the name of the photo it came from.
function render(file, alt, className) {
  return picture(file, alt, className, null);
}
function exemplar(ex) {
  return picture(ex.file, "exemplar from " + ex.source, "", ex.source);
}
function tile(entry) {
  const div = element("div", "tile");
  div.dataset.channel = String(entry.channel);
  div.appendChild(render(entry.file, "channel " + entry.channel, "vis"));
  const meta = element("div", "meta");
  meta.appendChild(element("b", "", String(entry.channel)));
  meta.appendChild(element("span", "", "score " + significant(entry.score, 3)));
  div.appendChild(meta);
  if (entry.renders.length > 1 || entry.negative) {
    const row = element("div", "ex");
    entry.renders.slice(1).forEach((file, i) => row.appendChild(render(file, "render " + (i + 2), "vis")));
    if (entry.negative) {
      row.appendChild(picture(entry.negative, "negative: minimizes channel " + entry.channel, "vis neg",
                              "negative (minimizes the channel)"));
    }
    div.appendChild(row);
  }
  if (entry.exemplars.length) {
    const row = element("div", "ex");
    for (const ex of exemplars(entry)) row.appendChild(exemplar(ex));
    div.appendChild(row);
  }
  div.addEventListener("click", () => enlarge(entry));
  return div;
}
function captioned(img, caption) {
  const fig = element("figure");
  fig.appendChild(img);
  fig.appendChild(element("figcaption", "", caption));
  return fig;
}
function enlarge(entry) {
  const side = element("div", "side");
  side.appendChild(element("b", "", "channel " + entry.channel));
  side.appendChild(element("span", "", "score " + significant(entry.score, 4)));
  entry.renders.slice(1).forEach((file, i) => {
    side.appendChild(captioned(render(file, "render " + (i + 2), "vis"), "render " + (i + 2)));
  });
  if (entry.negative) {
    side.appendChild(captioned(render(entry.negative, "negative", "vis"), "negative (minimizes it)"));
  }
  for (const ex of exemplars(entry)) side.appendChild(captioned(exemplar(ex), ex.source));
  overlay.replaceChildren(render(entry.file, "channel " + entry.channel, "vis"), side);
  overlay.classList.add("open");
}
overlay.addEventListener("click", () => overlay.classList.remove("open"));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") overlay.classList.remove("open");
});
function byScore(a, b) {
  return (b.score === null ? -Infinity : b.score) - (a.score === null ? -Infinity : a.score)
    || a.channel - b.channel;
}
function draw() {
  const key = document.getElementById("sort").value;
  const entries = data.channels.slice().sort(key === "score" ? byScore : (a, b) => a.channel - b.channel);
  grid.replaceChildren(...entries.map(tile));
}
document.getElementById("sort").addEventListener("change", draw);
draw();
