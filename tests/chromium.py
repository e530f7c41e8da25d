"""Headless Chromium for the tests that check pages featviz writes (Debian's ``chromium``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Flags for a closed network: no background connections, no sandbox (tests run as root).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
)


def browser() -> str | None:
    """The Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


needs_chromium = pytest.mark.skipif(
    browser() is None and not os.environ.get("FEATVIZ_REQUIRE_CHROMIUM"),
    reason="Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
)


def run(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Chromium on ``url`` with a fresh profile and ``extra`` flags (``--dump-dom``,
    ``--screenshot=...``); console messages go to stderr."""
    executable = browser()
    if executable is None:
        pytest.fail("FEATVIZ_REQUIRE_CHROMIUM is set but chromium is missing")
    flags = [*FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([executable, *flags, *extra, url], capture_output=True, text=True, timeout=120)


class Elements(HTMLParser):
    """Every start tag of a document as ``[tag, attributes, text]``, parsed as a browser would."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[list] = []
        self._current: list | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._current = [tag, dict(attrs), ""]
        self.elements.append(self._current)

    def handle_endtag(self, tag: str) -> None:
        self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current[2] += data

    def all(self, tag: str) -> list[list]:
        return [e for e in self.elements if e[0] == tag]

    def attributes(self) -> set[str]:
        return {name for _, attrs, _ in self.elements for name in attrs}

    def texts(self) -> list[str]:
        return [text for _, _, text in self.elements]


@dataclass
class Page:
    """A page as headless Chromium left it: its DOM (text and parsed), its console, its images."""

    dom: str
    elements: Elements
    stderr: str
    loaded: tuple[int, int] | None


def check_page(page: Path, tmp_path: Path, window: str = "1200,900", *extra: str) -> Page:
    """Open a page featviz wrote in headless Chromium and check what every page must do: no
    script error and no Content-Security-Policy violation in the console, no ``onerror`` or
    ``src="x"`` injected from a hostile string, no remote address, and a screenshot that is not
    blank. Returns the DOM (``loaded``: the page's ``data-images-loaded`` count, if it has one)."""
    run_ = run(page.as_uri(), tmp_path / "profile_dom", *extra, "--dump-dom")
    assert "Uncaught" not in run_.stderr and "Content Security Policy" not in run_.stderr, run_.stderr[-2000:]
    elements = Elements(run_.stdout)
    assert "onerror" not in elements.attributes()
    assert not [a for _, a, _ in elements.all("img") if a.get("src") == "x"]
    assert not re.search(r"https?://", page.read_text(encoding="utf-8"))
    shot = tmp_path / "shot.png"
    run(page.as_uri(), tmp_path / "profile_shot", f"--window-size={window}", f"--screenshot={shot}")
    with Image.open(shot) as image:
        assert np.unique(np.array(image.convert("L"))).size > 10  # pictures, not a blank page
    found = re.search(r'data-images-loaded="(\d+)/(\d+)"', run_.stdout)
    loaded = (int(found.group(1)), int(found.group(2))) if found else None
    return Page(run_.stdout, elements, run_.stderr, loaded)
