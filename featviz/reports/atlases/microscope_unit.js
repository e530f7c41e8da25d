// A unit's page of the microscope (microscope_page.py): its renders, exemplars, the classes it
// raises and the units below that excite it.
const unit = data.unit;
document.getElementById("up").href = layerPage(data.layer_index);
document.getElementById("up").textContent = data.layer + " (all units)";
const neighbours = document.getElementById("neighbours");
for (const [channel, text] of [[data.previous, "previous unit"], [data.next, "next unit"]]) {
  if (channel !== null) neighbours.appendChild(link(unitPage(data.layer_index, channel), text));
}
const renders = document.getElementById("renders");
const score = significant(unit.score, 4);
const kind = unit.draft ? "draft render" : "render";
unit.renders.forEach((file, i) => {
  renders.appendChild(figure(file, i ? kind + " " + (i + 1) : kind + " (score " + score + ")"));
});
if (unit.draft) {
  renders.appendChild(element("p", "", "A quick first render (a draft pass); rerunning the microscope " +
    "without --draft replaces it with the full render."));
}
if (unit.negative) renders.appendChild(figure(unit.negative, "negative: minimizes it", "neg"));
const exemplars = document.getElementById("exemplars");
if (!unit.exemplars.length) exemplars.textContent = "none (make the microscope with examples=)";
unit.exemplars.forEach((file, i) => {
  exemplars.appendChild(figure(file, unit.exemplar_sources[i] || "", "small"));
});
const classes = document.getElementById("classes");
for (const c of unit.classes || []) {
  classes.appendChild(element("li", "", c.name + " (" + c.class + "): +" + c.raised));
}
const below = document.getElementById("below");
if (data.below_index === null) below.appendChild(element("li", "", "the first layer shown has none"));
for (const b of unit.below || []) {
  const li = element("li");
  const text = data.below_layer + ":" + b.channel + " (gradient x activation " + b.contribution + ")";
  li.appendChild(b.rendered ? link(unitPage(data.below_index, b.channel), text) : element("span", "", text));
  below.appendChild(li);
}
