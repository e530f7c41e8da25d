"""Draw the side-by-side sheet of a quality run: one row per configuration or tool, one column per
unit, so anyone can see what the numbers in RESULTS.md mean.

    python benchmarks/quality.py ... --images OUT_FOLDER     # saves one strip per row
    python benchmarks/sheet.py OUT_FOLDER --out sheet.png [--size 112] [--rows "name;name"]

Each strip is a PNG of the row's renders side by side at full size; ``rows.json`` in the folder
lists the rows in order with their units. RGBA renders are shown over mid-grey, as scored.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import featviz
from featviz import files, imaging

LABEL_WIDTH = 300
HEADER = 18


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")[:80]


def save_strip(folder: str | Path, name: str, images: torch.Tensor, units: list[str]) -> None:
    """Save a row's renders (``(N, C, H, W)``, in unit order) as one strip and list it in rows.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = featviz.param.composite(images.detach().float().cpu(), 0.5)
    images = (
        F.interpolate(images, size=224, mode="bilinear", antialias=True)
        if images.shape[-1] != 224
        else images
    )
    imaging.save_image(imaging.to_pil(torch.cat(list(images), -1)), folder / f"{_slug(name)}.png")
    index = folder / "rows.json"
    rows = files.read_json(index) if index.exists() else []
    rows = [row for row in rows if row["name"] != name] + [
        {"name": name, "file": f"{_slug(name)}.png", "units": units}
    ]
    files.write_text(json.dumps(rows, indent=1), index)


def draw(folder: str | Path, size: int = 112, names: list[str] | None = None) -> Image.Image:
    """The sheet: row labels on the left, unit names on top, ``size`` px per render."""
    folder = Path(folder)
    rows = files.read_json(folder / "rows.json")
    if names:
        by_name = {row["name"]: row for row in rows}
        rows = [by_name[name] for name in names if name in by_name]
    if not rows:
        raise SystemExit(f"no rows to draw in {folder} (check --rows against rows.json)")
    units = max((row["units"] for row in rows), key=len)
    width = LABEL_WIDTH + len(units) * (size + 2)
    canvas = Image.new("RGB", (width, HEADER + len(rows) * (size + 2)), "white")
    pen = ImageDraw.Draw(canvas)
    for col, unit in enumerate(units):
        pen.text((LABEL_WIDTH + col * (size + 2) + 2, 3), unit, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        top = HEADER + r * (size + 2)
        with Image.open(folder / row["file"]) as strip:
            strip = strip.convert("RGB")
            tile = strip.height
            for index, unit in enumerate(row["units"][: strip.width // tile]):
                cell = strip.crop((index * tile, 0, (index + 1) * tile, tile)).resize(
                    (size, size), Image.LANCZOS
                )
                canvas.paste(cell, (LABEL_WIDTH + units.index(unit) * (size + 2), top))
        words, line, y = row["name"].split(), "", top + 4
        for word in words:  # wrap the label into the label column
            if len(line) + len(word) > 44:
                pen.text((4, y), line, fill=(0, 0, 0))
                line, y = "", y + 12
            line = f"{line} {word}".strip()
        pen.text((4, y), line, fill=(0, 0, 0))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="the --images folder of a quality.py run")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--size", type=int, default=112, help="pixels per render")
    parser.add_argument("--rows", help="';'-separated row names to draw, in this order (default: all)")
    args = parser.parse_args()
    names = [name.strip() for name in args.rows.split(";")] if args.rows else None
    imaging.save_image(draw(args.folder, args.size, names), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
