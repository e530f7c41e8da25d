// What every page of the microscope shares (microscope_page.py), after the page kit's kit.js and
// before the page's own microscope_index.js, microscope_layer.js or microscope_unit.js. Page
// names are made from indices, so a link never carries a string from the model.
const data = readData();
function unitPage(layerIndex, channel) {
  return "unit_" + pad(layerIndex, 2) + "_" + pad(channel, 4) + ".html";
}
function layerPage(layerIndex) { return "layer_" + pad(layerIndex, 2) + ".html"; }
document.title = data.title;
document.getElementById("title").textContent = data.title;
