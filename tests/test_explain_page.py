"""featviz.explain's page for a person: which map to believe (deletion / insertion on a planted
model), pointing at the photo in Chromium, labels and colour legends, hostile names as text."""

from __future__ import annotations

import dataclasses
import html
import json
import re

import numpy as np
import pytest
import torch
from chromium import check_page, needs_chromium
from chromium import run as run_chromium
from PIL import Image
from torch import nn

from featviz.model.prepared import prepare
from featviz.reports.explanation.page import faithfulness_numbers, faithfulness_text
from featviz.reports.explanation.report import explain, measure_faithfulness

FAST = {"steps": 3, "size": 32, "progress": False}
LAYERS = ["blocks.0", "blocks.1"]
EVIL_FILE = "<img src=x onerror=alert(1)>.png"
MAPS = ("grad_cam", "attribution")


class _KeepLeft(nn.Module):
    """Keeps channels 0 and 2 (the red detail) in the left half only; channel 1 everywhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = torch.zeros_like(x[:, :1])
        left[..., : x.shape[-1] // 2] = 1
        return x * torch.cat([left, torch.ones_like(left), left], 1)


class PlantedDetail(nn.Module):
    """Class 0 rests on fine red detail in the left half of the photo, class 1 on green anywhere.

    ``blocks.0``: channel 0 and 2 are the positive and negative parts of the red channel's
    Laplacian (fine detail, which a blur removes), channel 1 is green; then 4x4 average pooling
    (a 56x56 grid at 224 px). ``blocks.1`` keeps the detail channels in the left half only.
    """

    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        laplacian = torch.tensor([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]])
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0, 0] = laplacian
            conv.weight[2, 0] = -laplacian
            conv.weight[1, :, 1, 1] = torch.tensor([-0.5, 1.0, -0.5])
        self.blocks = nn.Sequential(nn.Sequential(conv, nn.ReLU(), nn.AvgPool2d(4)), _KeepLeft())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[2.0, 0.0, 2.0], [0.0, 1.0, 0.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.blocks(x)).flatten(1))


def _photo(size: int = 224) -> torch.Tensor:
    """A red-and-black checkerboard (fine detail) on the left, flat green on the right."""
    photo = torch.zeros(3, size, size)
    half = size // 2
    photo[0, :, :half] = 0.9 * ((torch.arange(size)[:, None] + torch.arange(half)[None]) % 2)
    photo[1, :, half:] = 0.9
    return photo


def test_the_map_that_points_at_the_evidence_beats_random_orders_and_the_json_has_it() -> None:
    exp = explain(PlantedDetail(), _photo(), LAYERS, preprocess="none", grid=4, render=False, progress=False)
    assert exp.target == 0
    record = exp.to_dict()
    for layer, numbers in zip(exp.layers, record["layers"], strict=True):
        assert set(numbers["faithfulness"]) == set(MAPS)
        for name in MAPS:
            found = numbers["faithfulness"][name]
            # Grad-CAM and gradient x activation point at the left half, where the evidence is
            assert found["deletion_auc"] < found["random_deletion_auc"] - 0.1, (layer.layer, name)
            assert found["insertion_auc"] > found["random_insertion_auc"] + 0.05, (layer.layer, name)
            assert found["beats_random"] == {"deletion": True, "insertion": True}
            assert not found["constant_map"] and found["span"] > 0.5
            assert len(found["deletion"]) == len(found["random_insertion"]) == 17
            assert "believable" in faithfulness_text(found)
        # one set of random orders for every map of the explanation
        assert (
            numbers["faithfulness"]["attribution"]["random_deletion"]
            == (record["layers"][0]["faithfulness"]["grad_cam"]["random_deletion"])
        )
    # the same maps mirrored point at the right half, where nothing decides: no better than chance
    prepared = prepare(PlantedDetail(), preprocess="none")
    mirrored = [
        dataclasses.replace(layer, grad_cam=layer.grad_cam.flip(-1), attribution=layer.attribution.flip(-1))
        for layer in exp.layers
    ]
    measure_faithfulness(prepared, exp.photo, mirrored, exp.target)
    for layer in mirrored:
        for found in faithfulness_numbers(layer).values():
            assert found["beats_random"] == {"deletion": False, "insertion": False}
            assert "do not rely" in faithfulness_text(found)
    # and it can be left out
    quick = explain(PlantedDetail(), _photo(), LAYERS, preprocess="none", render=False, progress=False)
    assert quick.layers[0].grad_cam_faithfulness is not None
    skipped = explain(
        PlantedDetail(), _photo(), LAYERS, preprocess="none", render=False, progress=False, faithfulness=False
    )
    assert all(faithfulness_numbers(layer) == {} for layer in skipped.layers)


# Test-only harness: opens the report in a frame, records the "point at the photo" panel, then
# moves the pointer to the left and right of the photo, clicks to pin, moves again, presses an
# arrow key; reports each state (needs --allow-file-access-from-files to read the file:// frame).
_HARNESS = """<!DOCTYPE html><html><body><pre id="out"></pre>
<iframe id="f" src="report/index.html" width="1300" height="900"></iframe><script>
const frame = document.getElementById("f");
const report = [];
function state(d, what) {
  const blocks = Array.from(d.querySelectorAll("#blocks .block"), (b) => ({
    layer: b.dataset.layer, cell: b.dataset.cell,
    channels: Array.from(b.querySelectorAll(".channel"), (c) => c.textContent),
    render: (b.querySelector("figure.cell img") || {}).src || null,
    label: b.querySelector("figure.cell .tag").textContent}));
  report.push({what: what, at: d.getElementById("photo-frame").dataset.at, blocks: blocks,
               marker: d.getElementById("marker").style.left});
}
function pointer(d, type, x, y) {
  const photo = d.getElementById("photo");
  const box = photo.getBoundingClientRect();
  const event = new frame.contentWindow.MouseEvent(type, {bubbles: true,
    clientX: box.left + photo.clientLeft + x * photo.clientWidth,
    clientY: box.top + photo.clientTop + y * photo.clientHeight});
  d.getElementById("photo-frame").dispatchEvent(event);
}
function ready() {
  const d = frame.contentDocument;
  if (!d || d.readyState !== "complete" || !d.documentElement.dataset.imagesLoaded) {
    setTimeout(ready, 30);
    return;
  }
  state(d, "start");
  pointer(d, "mousemove", 0.1, 0.5); state(d, "left");
  pointer(d, "mousemove", 0.9, 0.5); state(d, "right");
  pointer(d, "click", 0.1, 0.1); state(d, "pinned");
  pointer(d, "mousemove", 0.9, 0.9); state(d, "moved while pinned");
  d.getElementById("photo-frame").dispatchEvent(
    new frame.contentWindow.KeyboardEvent("keydown", {key: "ArrowRight", bubbles: true}));
  state(d, "arrow right");
  document.getElementById("out").textContent = JSON.stringify(report);
}
ready();
</script></body></html>
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A rendered report of the planted model, its photo named like an HTML injection."""
    folder = tmp_path_factory.mktemp("explain_page")
    photo_path = folder / EVIL_FILE
    Image.fromarray((_photo().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(photo_path)
    exp = explain(
        PlantedDetail(),
        photo_path,
        LAYERS,
        preprocess="none",
        cache=False,
        grid=4,
        groups=2,
        top=2,
        class_names=["<b>detail</b>", "green"],
        **FAST,
    )
    return folder, exp, exp.save(folder / "report")


@needs_chromium
def test_pointing_at_the_photo_shows_that_places_cell_and_channels_at_every_layer(report, tmp_path) -> None:
    folder, exp, index = report
    harness = folder / "harness.html"
    harness.write_text(_HARNESS, encoding="utf-8")
    run = run_chromium(
        harness.as_uri(),
        tmp_path / "profile",
        "--allow-file-access-from-files",
        "--virtual-time-budget=30000",
        "--dump-dom",
    )
    out = re.search(r'<pre id="out">(.+?)</pre>', run.stdout, re.S)
    assert out, run.stderr[-3000:]
    assert "Uncaught" not in run.stderr and "Content Security Policy" not in run.stderr, run.stderr[-2000:]
    states = {step["what"]: step for step in json.loads(html.unescape(out.group(1)))}
    left, right = states["left"], states["right"]
    assert [b["layer"] for b in left["blocks"]] == LAYERS
    deep_left, deep_right = left["blocks"][1], right["blocks"][1]  # blocks.1: a 4x4 activation grid
    assert deep_left["cell"] == "2,0" and deep_right["cell"] == "2,3"
    # on the left the red-detail channels (0 and 2) fire most; on the right only green (1) does
    assert deep_left["channels"][0] in ("channel 0", "channel 2")
    assert deep_right["channels"][0] == "channel 1"
    assert deep_left["render"] != deep_right["render"] and deep_left["render"].endswith(".jpg")
    assert deep_left["label"] == "render of this cell"
    assert left["marker"] == "10%" and right["marker"] == "90%"  # the marker follows the pointer
    # the start is the peak of the deepest Grad-CAM: on the left, where the evidence is
    assert float(states["start"]["at"].split(",")[0]) < 0.5
    # a click pins the place: moving away changes nothing, an arrow key moves a tenth
    assert states["pinned"]["at"] == "0.100,0.100" == states["moved while pinned"]["at"]
    assert states["pinned"]["blocks"] == states["moved while pinned"]["blocks"]
    assert states["arrow right"]["at"] == "0.200,0.100"


@needs_chromium
def test_page_labels_every_picture_draws_legends_and_shows_names_as_text(report, tmp_path) -> None:
    folder, exp, index = report
    record = json.loads((index.parent / "explanation.json").read_text(encoding="utf-8"))
    assert record["source"] == EVIL_FILE and record["predictions"][0]["name"] == "<b>detail</b>"
    assert all(set(layer["faithfulness"]) == set(MAPS) for layer in record["layers"])
    cells = record["layers"][1]["cell_top_channels"]
    assert len(cells) == 16 and cells[3][0]["channel"] == 1  # row 1, column 4: green
    page = check_page(index, tmp_path, "1300,2400")
    assert page.loaded and page.loaded[0] == page.loaded[1], page.stderr[-2000:]
    dom = page.elements
    assert all("detail" not in text for _, _, text in dom.all("b"))  # no markup from the class name
    texts = dom.texts()
    assert any(EVIL_FILE in text for text in texts)  # the file name, as text
    assert any("<b>detail</b>" in text for text in texts)  # the class name, as text
    # every picture says what it is: a render, a map (and its scale), a legend, or the photo
    images = [attrs for _, attrs, _ in dom.all("img")]
    assert all(
        re.match(r"(render|map|renders|colour scale|the photo)", attrs.get("alt", "")) for attrs in images
    )
    legends = [attrs["src"] for attrs in images if attrs.get("alt", "").startswith("colour scale")]
    assert set(legends) == {"legend_strength.png", "legend_signed.png"}
    assert len(legends) == 2 * (1 + len(exp.layers))  # beside the photo and in each layer's maps
    tags = [text for _, attrs, text in dom.elements if attrs.get("class") == "tag"]
    assert "render" in tags and "map (signed scale)" in tags and "map (strength scale)" in tags
    assert sum(1 for _, attrs, _ in dom.elements if attrs.get("class") == "how") >= 3 + 3 * len(exp.layers)
    assert len(dom.all("canvas")) == 2 * len(exp.layers)  # deletion / insertion curves per map
    assert "better than random on both" in " ".join(texts)


def test_notebook_view_has_labels_legends_and_faithfulness(report) -> None:
    _, exp, _ = report
    view = exp._repr_html_()
    assert "<b>detail</b>" not in view and "&lt;b&gt;detail&lt;/b&gt;" in view
    assert "gradient &#215; activation (map)" in view and "render: blocks.1:" in view
    assert "Colour scales" in view and "deletion" in view and "believable" in view
    assert view.count("data:image/png;base64,") >= 2 + 3 * len(exp.layers)
