"""featviz.microscope: the site (navigation and search in Chromium), resume after kill -9, links."""

from __future__ import annotations

import html
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from chromium import check_page, needs_chromium
from chromium import run as run_chromium
from conftest import featviz_command, files_written
from PIL import Image

import featviz
from featviz.errors import InvalidArgumentError

FAST = {"steps": 2, "size": 32, "progress": False}
LAYERS = ["relu1", "relu2", "relu3"]
EVIL = "<img src=x onerror=alert(1)>.png"


def _site(tiny, out: Path, examples: Path | None = None) -> featviz.MicroscopeResult:
    return featviz.microscope(tiny, out, LAYERS, 3, examples=examples, **FAST)


def test_site_pages_links_and_record(tiny, tmp_path) -> None:
    result = _site(tiny, tmp_path / "site")
    record = json.loads((tmp_path / "site" / "microscope.json").read_text(encoding="utf-8"))
    assert [layer["layer"] for layer in record["layers"]] == LAYERS
    assert [layer["channels"] for layer in record["layers"]] == [8, 16, 16]
    for i, layer in enumerate(record["layers"]):
        assert [u["channel"] for u in layer["units"]] == [0, 1, 2]
        assert (tmp_path / "site" / f"layer_{i:02d}.html").is_file()
        for unit in layer["units"]:
            assert (tmp_path / "site" / f"unit_{i:02d}_{unit['channel']:04d}.html").is_file()
            assert (tmp_path / "site" / unit["file"]).is_file() and unit["negative"]
            assert len(unit["classes"]) == 4
            if i == 0:
                assert "below" not in unit
            else:  # channels of the layer below, by gradient x activation, strongest first
                contributions = [b["contribution"] for b in unit["below"]]
                assert contributions == sorted(contributions, reverse=True)
                assert all(0 <= b["channel"] < record["layers"][i - 1]["channels"] for b in unit["below"])
    assert result.index == tmp_path / "site" / "index.html"


def test_units_below_are_the_ones_the_weights_connect(tmp_path) -> None:
    """relu2's channel c is wired (1x1 convolution) to relu1's channel c only: the unit below
    that excites it most is that one."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    with torch.no_grad():
        model[0].bias.fill_(0.5)
        model[2].weight.copy_(torch.eye(4)[:, :, None, None] * 2)
        model[2].bias.zero_()
    result = featviz.microscope(model, tmp_path / "site", ["1", "3"], **FAST)
    for unit in result.record["layers"][1]["units"]:
        assert unit["below"][0]["channel"] == unit["channel"]


def test_bad_layers_and_channels_get_featviz_errors(tiny, tmp_path) -> None:
    with pytest.raises(featviz.LayerNotFoundError):
        featviz.microscope(tiny, tmp_path / "a", ["conv9"], 2, **FAST)
    with pytest.raises(InvalidArgumentError, match="none of the channels"):
        featviz.microscope(tiny, tmp_path / "b", ["relu3"], [99], **FAST)
    with pytest.raises(InvalidArgumentError, match="positive"):
        featviz.microscope(tiny, tmp_path / "c", LAYERS, 0, **FAST)


_KILLABLE = """
import sys, torch
sys.path.insert(0, {tests!r})
from conftest import TinyCNN
import featviz
torch.manual_seed(0)
featviz.microscope(TinyCNN(), {out!r}, {layers!r}, 6, steps=40, size=32, progress=False, batch_size=2)
"""


def test_kill_9_then_the_same_command_redoes_nothing_and_misses_nothing(tiny, tmp_path) -> None:
    out = tmp_path / "site"
    script = _KILLABLE.format(tests=str(Path(__file__).parent), out=str(out), layers=LAYERS)
    process = subprocess.Popen([sys.executable, "-c", script])
    first = out / "layers" / "00" / "manifest.json"
    deadline = time.time() + 240
    while time.time() < deadline and not first.exists() and process.poll() is None:
        time.sleep(0.2)
    assert first.exists(), "the first layer never wrote its manifest"
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = {p: p.stat().st_mtime_ns for p in (out / "layers").rglob("channels/*.png")}
    assert kept and not (out / "index.html").exists()
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    for path, stamp in kept.items():
        assert path.stat().st_mtime_ns == stamp, f"{path} was rendered again"
    record = json.loads((out / "microscope.json").read_text(encoding="utf-8"))
    assert [len(layer["units"]) for layer in record["layers"]] == [6, 6, 6]
    assert all((out / u["file"]).is_file() for layer in record["layers"] for u in layer["units"])


# Test-only harness: opens the site in a frame, follows index -> layer -> unit -> back, then
# searches; reports each page (needs --allow-file-access-from-files to read the file:// frame).
_HARNESS = """<!DOCTYPE html><html><body><pre id="out"></pre><iframe id="f"></iframe><script>
const frame = document.getElementById("f");
const report = [];
function doc() { return frame.contentDocument; }
function ready(name, then) {
  const d = doc();
  if (d && d.location.href.endsWith(name) && d.readyState === "complete" &&
      d.documentElement.dataset.imagesLoaded) {
    report.push({page: name, title: d.title, loaded: d.documentElement.dataset.imagesLoaded,
                 onerror: d.querySelectorAll("[onerror]").length,
                 injected: d.querySelectorAll('img[src="x"]').length, text: d.body.textContent});
    then(d);
  } else setTimeout(() => ready(name, then), 30);
}
function done() { document.getElementById("out").textContent = JSON.stringify(report); }
frame.src = "site/index.html";
ready("index.html", (d) => {
  d.querySelector("#layers a").click();
  ready("layer_00.html", (d) => {
    d.querySelector(".tile").click();
    ready("unit_00_0000.html", (d) => {
      frame.contentWindow.history.back();
      ready("layer_00.html", (d) => {
        frame.src = "site/index.html";
        ready("index.html", (d) => {
          d.getElementById("query").value = "relu3:2";
          d.getElementById("search").requestSubmit();
          ready("unit_02_0002.html", (d) => {
            const links = Array.from(d.querySelectorAll("#below a"), (a) => a.getAttribute("href"));
            report.push({below: links});
            frame.src = "site/index.html";
            ready("index.html", (d) => {
              d.getElementById("query").value = "relu3:99";
              d.getElementById("search").requestSubmit();
              setTimeout(() => {
                report.push({message: d.getElementById("message").textContent, at: d.location.href});
                done();
              }, 200);
            });
          });
        });
      });
    });
  });
});
</script></body></html>
"""


@needs_chromium
def test_site_in_chromium_navigates_searches_and_shows_names_as_text(tiny, tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate([EVIL, "b.png", "c.png"]):
        pixels = np.random.default_rng(i).integers(0, 255, (40, 40, 3), np.uint8)
        Image.fromarray(pixels).save(photos / name)
    _site(tiny, tmp_path / "site", examples=photos)
    index_text = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", index_text)
    harness = tmp_path / "harness.html"
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
    report = json.loads(html.unescape(out.group(1)))
    pages = [step["page"] for step in report if "page" in step]
    assert pages == [
        "index.html",
        "layer_00.html",
        "unit_00_0000.html",
        "layer_00.html",
        "index.html",
        "unit_02_0002.html",
        "index.html",
    ]
    for step in (s for s in report if "page" in s):
        loaded, total = step["loaded"].split("/")
        assert loaded == total, step["page"]
        assert step["onerror"] == step["injected"] == 0
    unit_page = next(s for s in report if s.get("page") == "unit_00_0000.html")
    assert unit_page["loaded"] == "5/5"  # render, negative, an exemplar from each of the 3 photos
    assert EVIL in unit_page["text"]  # the photo's name, as text
    below = next(s["below"] for s in report if "below" in s)
    assert below and all(re.fullmatch(r"unit_01_000[0-2]\.html", href) for href in below)
    last = report[-1]
    assert last["message"].startswith("no such unit") and last["at"].endswith("index.html")
    assert "Uncaught" not in run.stderr and "Content Security Policy" not in run.stderr

    for name in ("unit_00_0000.html", "layer_00.html"):
        check_page(tmp_path / "site" / name, tmp_path / name)


@needs_chromium
def test_index_shows_each_layers_first_units_as_thumbnails(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("featviz.reports.atlases.microscope_page.INDEX_THUMBNAILS", 2)
    _site(tiny, tmp_path / "site")
    page = check_page(tmp_path / "site" / "index.html", tmp_path)
    assert page.loaded == (6, 6)  # two thumbnails for each of the three layers, all decoded
    links = [(attrs.get("class"), attrs["href"], text) for _, attrs, text in page.elements.all("a")]
    for i, layer in enumerate(LAYERS):
        ours = [
            entry for entry in links if entry[1] in (f"layer_{i:02d}.html",) or f"unit_{i:02d}_" in entry[1]
        ]
        assert ours == [
            (None, f"layer_{i:02d}.html", layer),  # the layer's name first, then its units
            ("thumb", f"unit_{i:02d}_0000.html", ""),
            ("thumb", f"unit_{i:02d}_0001.html", ""),
            ("more", f"layer_{i:02d}.html", "+1 more"),
        ]
    images = [attrs for _, attrs, _ in page.elements.all("img")]
    assert [a["alt"] for a in images[:2]] == ["render: relu1:0", "render: relu1:1"]


def test_cli_microscope(tiny, tmp_path, capsys) -> None:
    from featviz.cli import main

    torch.save(tiny, tmp_path / "tiny.pt")
    argv = ["microscope", str(tmp_path / "tiny.pt"), "-o", str(tmp_path / "site"), "--layers", "relu2,relu3"]
    argv += ["--channels", "2", "--steps", "2", "--size", "32", "--no-negative", "-q"]
    assert main(argv) == 0
    assert "wrote 4 units of 2 layers" in capsys.readouterr().out
    assert (tmp_path / "site" / "unit_01_0001.html").is_file()
    assert not list((tmp_path / "site").rglob("*_neg.png"))
    draft = ["microscope", str(tmp_path / "tiny.pt"), "-o", str(tmp_path / "drafted"), "--layers", "relu3"]
    assert main([*draft, "--channels", "1", "--steps", "2", "--draft", "-q"]) == 0
    record = json.loads((tmp_path / "drafted" / "microscope.json").read_text(encoding="utf-8"))
    assert record["layers"][0]["units"][0]["draft"] and record["provenance"]["settings"]["draft"]


def test_torchrun_two_processes_make_the_same_site_as_one(tiny, tmp_path) -> None:
    model = tmp_path / "tiny.pt"
    torch.save(tiny, model)
    args = ["microscope", str(model), "--layers", "relu2,relu3", "--channels", "5", "--steps", "2"]
    args += ["--size", "32", "--batch-size", "2", "-q"]
    single = featviz_command([*args, "-o", str(tmp_path / "one")])
    assert single.returncode == 0, single.stderr[-2000:]
    multi = featviz_command([*args, "-o", str(tmp_path / "two")], processes=2)
    assert multi.returncode == 0, multi.stderr[-2000:]
    files = files_written
    one, two = tmp_path / "one", tmp_path / "two"
    assert files(one) == files(two)
    assert len([f for f in files(one) if f.startswith("unit_")]) == 10
    for name in files(one):
        if name.endswith(".png"):  # the same pictures (batches of other channels: float noise)
            a = np.asarray(Image.open(one / name), dtype=np.int16)
            b = np.asarray(Image.open(two / name), dtype=np.int16)
            assert np.abs(a - b).max() <= 2, name
    record_one = json.loads((one / "microscope.json").read_text(encoding="utf-8"))
    record_two = json.loads((two / "microscope.json").read_text(encoding="utf-8"))

    def links(record: dict) -> list:
        return [
            (
                unit["channel"],
                unit["file"],
                unit["renders"],
                unit["negative"],
                [c["class"] for c in unit["classes"]],
                [b["channel"] for b in unit.get("below", [])],
            )
            for layer in record["layers"]
            for unit in layer["units"]
        ]

    assert links(record_one) == links(record_two)


def test_importing_the_modules_leaves_the_functions_callable() -> None:
    """A module named like its function would replace ``featviz.<function>`` once imported."""
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(featviz.__path__, "featviz."):
        if module.name != "featviz.__main__":
            importlib.import_module(module.name)
    for name in featviz._LAZY:
        assert not isinstance(getattr(featviz, name), type(featviz)), name


def test_a_draft_then_refinements_in_place_that_a_rerun_never_redoes(tiny, tmp_path, monkeypatch) -> None:
    """``draft=True`` makes a complete site quickly (every unit once, no negatives); a run without
    it replaces the drafts layer by layer, keeps the site browsable after Ctrl-C, and a finished
    refinement is never rendered again."""
    from featviz.reports.atlases import microscope as module
    from featviz.reports.atlases import neuron

    monkeypatch.setattr(module, "DRAFT_SIZE", 24)
    out = tmp_path / "site"
    featviz.microscope(tiny, out, LAYERS, 2, draft=True, **FAST)
    record = json.loads((out / "microscope.json").read_text(encoding="utf-8"))
    units = [u for layer in record["layers"] for u in layer["units"]]
    assert len(units) == 6 and all(u["draft"] and u["negative"] is None for u in units)
    assert all("/draft/" in u["file"] and Image.open(out / u["file"]).size == (24, 24) for u in units)
    assert record["provenance"]["settings"]["draft"] is True

    real = neuron.build_layer
    calls = []

    def stop_at_the_second_layer(*args, **kwargs):  # Ctrl-C while refining relu2
        calls.append(args[1])
        if args[1] == "relu2":
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "build_layer", stop_at_the_second_layer)
    with pytest.raises(KeyboardInterrupt):
        featviz.microscope(tiny, out, LAYERS, 2, **FAST)
    record = json.loads((out / "microscope.json").read_text(encoding="utf-8"))
    assert [[u["draft"] for u in layer["units"]] for layer in record["layers"]] == [
        [False, False],
        [True, True],
        [True, True],
    ]
    assert (out / "index.html").is_file() and (out / "unit_01_0001.html").is_file()

    monkeypatch.setattr(module, "build_layer", real)
    first = {p: p.stat().st_mtime_ns for p in (out / "layers" / "00" / "channels").glob("*.png")}
    assert len(first) == 4  # relu1's two units and their negatives, refined before Ctrl-C
    featviz.microscope(tiny, out, LAYERS, 2, **FAST)
    assert {p: p.stat().st_mtime_ns for p in first} == first
    record = json.loads((out / "microscope.json").read_text(encoding="utf-8"))
    refined = [u for layer in record["layers"] for u in layer["units"]]
    assert not any(u["draft"] for u in refined) and all(u["negative"] for u in refined)
    kept = {p: p.stat().st_mtime_ns for p in (out / "layers").rglob("channels/*.png")}
    featviz.microscope(tiny, out, LAYERS, 2, **FAST)
    assert {p: p.stat().st_mtime_ns for p in (out / "layers").rglob("channels/*.png")} == kept
