"""Shareable pages: the page kit's escaping and CSP, and the atlas gallery showing hostile names as text."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from chromium import Elements, check_page, needs_chromium
from chromium import run as run_chromium
from PIL import Image

import featviz
from featviz import InvalidArgumentError
from featviz.reports.atlases.gallery import write_gallery
from featviz.reports.pagekit import DATA_ID, content_security_policy, page

EVIL = "</script><img src=x onerror=alert(1)>\u2028<!-- & \u2029"
EVIL_FILE = "<img src=x onerror=alert(1)>.png"  # a real file name on Linux (no slash)
FAST = {"steps": 3, "size": 32, "progress": False}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _csp(parsed: Elements) -> dict[str, str]:
    metas = [a for _, a, _ in parsed.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert len(metas) == 1
    directives = (d.strip().split(" ", 1) for d in metas[0]["content"].split(";"))
    return {name: value for name, value in directives}


# ---- the page kit --------------------------------------------------------------------------------


def test_hostile_title_and_data_round_trip_as_text() -> None:
    data = {"name": EVIL, "list": [EVIL, 1.5, None], EVIL: "key", "bytes": "caf\u00e9 \udcff"}
    text = page(EVIL, '<main id="m"></main>', script="readData;", data=data)
    for raw in ("</script><img", "<img", "<!--", "\u2028", "\u2029", "onerror=alert(1)>"):
        assert raw not in text
    parsed = Elements(text)
    assert [e[0] for e in parsed.all("script")] == ["script", "script"]  # data + code, no third
    assert not parsed.all("img") and "onerror" not in parsed.attributes()
    assert parsed.all("title")[0][2] == EVIL
    (data_element,) = [e for e in parsed.all("script") if e[1].get("id") == DATA_ID]
    assert data_element[1]["type"] == "application/json"
    assert json.loads(data_element[2]) == data
    text.encode("utf-8")  # lone surrogates (undecodable file names) were \u-escaped, so this works


def test_csp_allows_only_the_pages_own_code_and_local_images() -> None:
    script, style = "document.title = 1;\r\n", "body { color: red; }"
    parsed = Elements(page("t", "<p>hi</p>", script=script, style=style, data=[1]))
    csp = _csp(parsed)
    assert csp["default-src"] == "'none'"
    code = [e[2] for e in parsed.all("script") if "type" not in e[1]]
    assert csp["script-src"] == _sha256(code[0]) == _sha256("document.title = 1;\n")
    assert csp["style-src"] == _sha256(parsed.all("style")[0][2]) == _sha256(style)
    assert csp["img-src"] == "'self' file: data:"
    assert csp["base-uri"] == csp["form-action"] == "'none'"
    assert "unsafe" not in str(csp) and "http" not in str(csp)
    assert parsed.elements.index(parsed.all("meta")[1]) < parsed.elements.index(parsed.all("style")[0])
    assert "script-src 'none'" in content_security_policy(style=style)


def test_page_refuses_code_that_would_end_its_element_and_non_json_data() -> None:
    with pytest.raises(InvalidArgumentError, match="</script"):
        page("t", "", script="const s = '</SCRIPT>';")
    with pytest.raises(InvalidArgumentError, match="</style"):
        page("t", "", style="</style><script>")
    with pytest.raises(ValueError, match="NaN"):
        page("t", "", data={"score": float("nan")})


# ---- the gallery ------------------------------------------------------------------------------


def test_gallery_page_carries_manifest_strings_as_data_only(tmp_path) -> None:
    manifest = {
        "model": EVIL,
        "layer": "<b>layer</b>",
        "steps": 3,
        "seed": 0,
        "provenance": {"featviz": "0"},
        "channels": [
            {"channel": 1, "file": "channels/0001.png", "score": float("nan"), "seconds": 0.1},
            {
                "channel": 0,
                "file": "channels/0000.png",
                "score": 0.5,
                "exemplars": ["exemplars/0000_0.jpg"],
                "exemplar_sources": [EVIL_FILE],
            },
        ],
    }
    text = write_gallery(tmp_path, manifest).read_text(encoding="utf-8")
    parsed = Elements(text)
    assert not parsed.all("img") and not parsed.all("b") and "onerror" not in parsed.attributes()
    assert EVIL_FILE not in text and "innerHTML" not in text and "insertAdjacentHTML" not in text
    assert not re.search(r"https?://", text)
    data = json.loads(next(e[2] for e in parsed.all("script") if e[1].get("id") == DATA_ID))
    assert data["title"] == f"{EVIL} · <b>layer</b>"
    assert data["channels"][0]["score"] is None  # a NaN score is shown as "n/a", not broken JSON
    assert data["channels"][1]["exemplar_sources"] == [EVIL_FILE]


# ---- in Chromium ------------------------------------------------------------------------------


def _hostile_atlas(tiny, tmp_path: Path) -> featviz.AtlasResult:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate([EVIL_FILE, "beach.png", "cat & dog.png"]):
        pixels = np.random.default_rng(i).integers(0, 255, (40, 50, 3), np.uint8)
        Image.fromarray(pixels).save(photos / name)
    # top_k = every photo, so each channel shows the hostile name
    return featviz.atlas(tiny, "conv3", range(2), tmp_path / "atlas", examples=photos, top_k=3, **FAST)


@needs_chromium
def test_hostile_exemplar_name_reaches_the_page_as_text(tiny, tmp_path) -> None:
    result = _hostile_atlas(tiny, tmp_path)
    assert result.index is not None
    page = check_page(result.index, tmp_path)  # no CSP violation: the page's own code and images are allowed
    assert page.loaded, page.stderr[-2000:]
    assert page.loaded[0] == page.loaded[1] == 2 + 2 * 3  # visualizations + exemplars
    dom = page.elements
    assert all(a["src"].startswith(("channels/", "exemplars/")) for _, a, _ in dom.all("img"))
    assert EVIL_FILE in {a.get("title") for _, a, _ in dom.all("img")}  # a tooltip, as text
    assert not re.search(r"https?://", page.dom)


# Test-only harness: loads the gallery in a frame, clicks the first tile and reports the
# enlarged view (needs --allow-file-access-from-files to reach into the file:// frame).
_HARNESS = """<!DOCTYPE html><html><body><pre id="out"></pre><iframe id="f" src="{src}"></iframe>
<script>
const frame = document.getElementById("f");
function poll(check, then) { if (check()) then(); else setTimeout(() => poll(check, then), 50); }
frame.addEventListener("load", () => {
  const doc = frame.contentDocument;
  poll(() => doc.documentElement.dataset.imagesLoaded, () => {
    doc.querySelector(".tile").click();
    const overlay = doc.getElementById("overlay");
    const images = () => Array.from(overlay.querySelectorAll("img"));
    poll(() => images().length && images().every((img) => img.complete), () => {
      document.getElementById("out").textContent = JSON.stringify({
        open: overlay.classList.contains("open"),
        loaded: images().filter((img) => img.naturalWidth > 0).length,
        total: images().length,
        captions: Array.from(overlay.querySelectorAll("figcaption"), (f) => f.textContent),
        tooltips: images().map((img) => img.title),
        onerror: doc.querySelectorAll("[onerror]").length,
        injected: doc.querySelectorAll('img[src="x"]').length,
      });
    });
  });
});
</script></body></html>
"""


@needs_chromium
def test_enlarged_view_captions_exemplars_with_their_source_names(tiny, tmp_path) -> None:
    result = _hostile_atlas(tiny, tmp_path)
    harness = tmp_path / "harness.html"
    harness.write_text(_HARNESS.replace("{src}", "atlas/index.html"), encoding="utf-8")
    run = run_chromium(harness.as_uri(), tmp_path / "profile", "--allow-file-access-from-files", "--dump-dom")
    out = re.search(r'<pre id="out">(.+?)</pre>', run.stdout)
    assert out, run.stderr[-2000:]
    report = json.loads(html.unescape(out.group(1)))
    sources = result.channels[0]["exemplar_sources"]
    assert EVIL_FILE in sources
    assert report["open"] and report["loaded"] == report["total"] == 1 + 3
    assert report["captions"] == sources and report["tooltips"][1:] == sources
    assert report["onerror"] == report["injected"] == 0


@needs_chromium
def test_gallery_renders_every_thumbnail_in_headless_chromium(tiny, tmp_path) -> None:
    out = tmp_path / "g"
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 50, 3), np.uint8)).save(
            photos / f"{i}.png"
        )
    featviz.atlas(tiny, "conv3", range(5), out, examples=photos, top_k=2, **FAST)
    page = check_page(out / "index.html", tmp_path, "900,600")
    assert page.loaded, page.stderr[-2000:]
    assert page.loaded[0] == page.loaded[1] == 5 + 5 * 2  # visualizations + exemplars


@needs_chromium
def test_gallery_shows_further_renders_and_negatives_in_headless_chromium(tiny, tmp_path) -> None:
    out = tmp_path / "k"
    featviz.atlas(tiny, "conv3", range(3), out, renders=2, negative=True, **FAST)
    page = check_page(out / "index.html", tmp_path)
    assert page.loaded, page.stderr[-2000:]
    assert page.loaded[0] == page.loaded[1] == 3 * 3  # picture, second render, negative
    assert page.dom.count('class="vis neg"') == 3
