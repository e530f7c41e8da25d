"""Headless Chromium for the tests that check pages featviz writes (Debian's ``chromium``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

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
