// The featviz page kit: the script every page shares. pagekit.page() inlines it before the page's
// own script. Strings from models, files and users arrive only as JSON data (readData()) and are
// shown with textContent or set as properties: no string is ever parsed as HTML.

// The page's data: the JSON in the element with id "data" (pagekit.DATA_ID).
function readData() { return JSON.parse(document.getElementById("data").textContent); }

// A new element with an optional class and text (set with textContent, never parsed as HTML).
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A link to a page or file of the report, with optional text.
function link(href, text) {
  const a = element("a", "", text);
  a.href = href;
  return a;
}

// An image of a local file with its alt text and a tooltip: `title`, or the alt text when it is
// not given, or none when it is null. No file (a render that was not made) gives a grey
// "not rendered" box instead.
function picture(file, alt, className, title) {
  if (!file) return element("div", "missing", "not rendered");
  const img = document.createElement("img");
  img.src = file;
  img.alt = alt;
  if (title !== null) img.title = title === undefined ? alt : title;
  if (className) img.className = className;
  return img;
}

// A figure: the picture of a file, with the caption as its alt text, tooltip and figcaption.
function figure(file, caption, className) {
  const fig = element("figure", className);
  fig.appendChild(picture(file, caption));
  fig.appendChild(element("figcaption", "", caption));
  return fig;
}

// A number with `digits` digits after the point, or "n/a" for none.
function fixed(value, digits) {
  return value === null || value === undefined ? "n/a" : Number(value).toFixed(digits);
}

// A number to `digits` significant digits, or "n/a" for none.
function significant(value, digits) {
  return value === null || value === undefined ? "n/a" : Number(value).toPrecision(digits);
}

// A whole number written with at least `width` digits (leading zeros), as in featviz's file names.
function pad(number, width) { return String(number).padStart(width, "0"); }

// Status for scripts and tests: once the page has loaded, the <html> element's data-images-loaded
// attribute says how many of its pictures decoded, as "loaded/total".
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  document.documentElement.dataset.imagesLoaded = loaded + "/" + images.length;
});
