"""Screenshots of an explanation report in headless Chromium, before and after pointing at the photo.

    python benchmarks/explain_screenshots.py examples/explain_cat --out examples/images \\
        [--name explain_cat] [--at 0.35,0.55] [--window 1300,1700]

writes ``OUT/NAME_before.jpg`` (the page as it opens: the pointer at the peak of the deepest
layer's Grad-CAM) and ``OUT/NAME_hover.jpg`` (after a scripted ``mousemove`` over the photo at
``--at``, fractions across and down). The page is opened inside a frame of a small harness page
(Chromium's ``--allow-file-access-from-files`` lets it reach into the report's file:// page), which
dispatches the event once the report has loaded; the report itself is not changed. Chromium's
console is checked for script errors and Content-Security-Policy violations.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--allow-file-access-from-files",
    "--virtual-time-budget=15000",
    "--enable-logging=stderr",
    "--v=0",
)

# The harness: the report in a frame as large as the window; once it has loaded, a mousemove at
# (X, Y) of the photo (nothing for the "before" shot).
_HARNESS = """<!DOCTYPE html><html><head><style>
html, body {{ margin: 0; overflow: hidden; }} iframe {{ border: 0; width: 100vw; height: 100vh; }}
</style></head><body><iframe id="f" src="{src}"></iframe><script>
const frame = document.getElementById("f");
const at = {at};
function ready() {{
  const d = frame.contentDocument;
  if (!d || d.readyState !== "complete" || !d.documentElement.dataset.imagesLoaded) {{
    setTimeout(ready, 30);
    return;
  }}
  if (!at) return;
  const photo = d.getElementById("photo");
  const box = photo.getBoundingClientRect();
  d.getElementById("photo-frame").dispatchEvent(new frame.contentWindow.MouseEvent("mousemove", {{
    bubbles: true,
    clientX: box.left + photo.clientLeft + at[0] * photo.clientWidth,
    clientY: box.top + photo.clientTop + at[1] * photo.clientHeight}}));
}}
ready();
</script></body></html>
"""


def screenshot(report: Path, at: tuple[float, float] | None, window: str, out: Path, work: Path) -> str:
    """Screenshot ``report/index.html`` (after a mousemove at ``at``) into ``out``; returns
    Chromium's console output."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    harness = work / f"harness_{'hover' if at else 'before'}.html"
    point = "null" if at is None else f"[{at[0]}, {at[1]}]"
    harness.write_text(_HARNESS.format(src=(report / "index.html").resolve().as_uri(), at=point), "utf-8")
    png = work / f"{harness.stem}.png"
    profile = work / f"profile_{harness.stem}"
    flags = [*FLAGS, f"--user-data-dir={profile}", f"--window-size={window}", f"--screenshot={png}"]
    run = subprocess.run([executable, *flags, harness.as_uri()], capture_output=True, text=True, timeout=180)
    if not png.is_file():
        sys.exit(f"chromium wrote no screenshot:\n{run.stderr[-2000:]}")
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        if out.suffix.lower() in (".jpg", ".jpeg"):
            rgb.save(out, quality=85, optimize=True)
        else:
            rgb.save(out)
    return run.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="a folder featviz explain wrote (with index.html)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the screenshots")
    parser.add_argument("--name", help="file name stem (default: the report folder's name)")
    parser.add_argument("--at", default="0.35,0.55", help="where to point: fractions across,down")
    parser.add_argument("--window", default="1300,1700", help="window size in px: width,height")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg")
    args = parser.parse_args(argv)
    if not (args.report / "index.html").is_file():
        parser.error(f"{args.report} has no index.html; make one with featviz explain MODEL PHOTO -o DIR")
    x, y = (float(v) for v in args.at.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.name or args.report.resolve().name
    problems = []
    with tempfile.TemporaryDirectory(prefix="explain_shots_") as work:
        for label, at in (("before", None), ("hover", (x, y))):
            out = args.out / f"{name}_{label}.{args.format}"
            console = screenshot(args.report, at, args.window, out, Path(work))
            problems += [
                line
                for line in console.splitlines()
                if "Uncaught" in line or "Content Security Policy" in line
            ]
            print(f"wrote {out}")
    if problems:
        print("console errors:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
