// The report of a concept dictionary (page.py), after the page kit's kit.js.
const data = readData();
const record = data.record;
document.getElementById("title").textContent =
  record.model + " · " + record.layer + " · " + record.concepts_in_dictionary + " concepts (" + record.method + ")";
document.getElementById("subtitle").textContent =
  record.photos + " photos · " + record.vectors + " activation vectors · " +
  (record.seconds.total !== undefined ? record.seconds.total + " s · " : "") + "featviz " + record.provenance.featviz;

const q = record.quality;
const kind = record.method === "sae" ? "a TopK sparse autoencoder" :
  (record.signed ? "NMF of the values split by sign (the layer's values are signed: each vector's positive and " +
    "negative parts are factorized; a concept's direction is its positive minus its negative part)" :
    "NMF (non-negative directions and codes)");
document.getElementById("quality").textContent =
  "Learned by " + kind + " at " + record.layer + " (" + record.channels + " channels): R² " + fixed(q.r2, 3) +
  " · L0 " + fixed(q.l0, 1) + " active concepts per position · " + q.dead + " dead of " +
  record.concepts_in_dictionary + ".";

document.getElementById("ranking-title").textContent =
  "Which concepts drive " + record.target_name + " (class " + record.target + ")";
const s = record.deletion_summary;
document.getElementById("test").textContent =
  "Ranked over the " + record.target_photos + " photos the model predicts as " + record.target_name +
  ". Deletion test over " + s.classes + " classes: removing each class's top 3 concepts drops its logit by " +
  significant(s.drop_top, 3) + " ± " + significant(s.drop_top_se, 2) + " (mean ± standard error over classes), " +
  "removing 3 random concepts by " + significant(s.drop_random, 3) + " ± " + significant(s.drop_random_se, 2) +
  "; the top 3 drop it more in " + s.top_beats_random + " of " + s.classes + " classes.";
const tbody = document.querySelector("#tests tbody");
for (const test of record.deletion_tests) {
  const tr = document.createElement("tr");
  const cells = [test.name + " (" + test["class"] + ")", String(test.photos), test.top.map((i) => "#" + i).join(" "),
    significant(test.drop_top, 3), significant(test.drop_random, 3)];
  for (const text of cells) tr.appendChild(element("td", "", text));
  tbody.appendChild(tr);
}

const cards = document.getElementById("cards");
record.concepts.forEach((concept, i) => {
  const files = data.cards[i];
  const card = element("div", "card");
  card.appendChild(element("h3", "", "#" + concept.index + " · rank " + (concept.rank + 1)));
  const row = element("div", "pictures");
  if (files.render) {
    row.appendChild(figure(files.render, "render", "render"));
  } else {
    row.appendChild(element("div", "pending", "render not made (--no-render, or interrupted: rerun to finish)"));
  }
  files.exemplars.forEach((file, r) => {
    const fig = figure(file, concept.exemplar_sources[r], "exemplar");
    fig.querySelector("img").setAttribute("title", concept.exemplar_sources[r] + " · code " + significant(concept.exemplar_codes[r], 3));
    row.appendChild(fig);
  });
  card.appendChild(row);
  const facts = [
    "importance " + significant(concept.importance, 3) + " (" + fixed(100 * concept.importance_share, 0) + " % of the positive)",
    "logit drop when removed alone: " + (concept.deletion === null ? "not measured" : significant(concept.deletion, 3)),
    "share of the folder's concept activity " + fixed(100 * concept.share, 1) + " %, active in " + concept.photos + " photos",
  ];
  const list = element("ul", "facts");
  for (const text of facts) list.appendChild(element("li", "", text));
  card.appendChild(list);
  cards.appendChild(card);
});
document.getElementById("footer").textContent =
  "Renders: " + record.rendered + " made, " + record.reused + " from the render cache" +
  (record.interrupted ? " · interrupted: rerun the same command to finish" : "") +
  ". The dictionary is dictionary.pt (featviz explain MODEL PHOTO --concepts dictionary.pt maps its concepts on a photo).";
