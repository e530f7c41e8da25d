"""Small PNG charts drawn with Pillow (no plotting library, nothing from the network).

- :func:`by_depth`: one or more series over a model's layers (bars or lines, linear or log scale),
  with an optional reference line — activation statistics, gradient norms, probe accuracy.
- :func:`heat_map`: a matrix of values in [0, 1] with labelled axes — CKA between layers.

Labels are drawn as pixels, so layer names never reach a page as markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw

from featviz.errors import InvalidArgumentError

_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
_GRID = (225, 225, 225)
_TEXT = (30, 30, 30)


def by_depth(
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    title: str,
    log: bool = False,
    bars: bool = False,
    reference: tuple[str, float] | None = None,
    low: float | None = None,
    high: float | None = None,
    width: int = 760,
    height: int = 300,
) -> Image.Image:
    """A chart of ``series`` (name → one value per layer; None for missing) over ``labels``.

    Args:
        log: a log10 value axis (values ≤ 0 are left out).
        bars: bars side by side instead of lines with points.
        reference: ``(name, value)``: a dashed horizontal line (e.g. chance accuracy).
        low, high: the value axis range (default: the data's, with 0 included for linear axes).
    """
    if not labels:
        raise InvalidArgumentError("a chart needs at least one layer")
    for name, values in series.items():
        if len(values) != len(labels):
            raise InvalidArgumentError(f"series {name!r} has {len(values)} values for {len(labels)} layers")

    def scaled(value: float | None) -> float | None:
        if value is None or not math.isfinite(value) or (log and value <= 0):
            return None
        return math.log10(value) if log else value

    points = [v for values in series.values() for v in map(scaled, values) if v is not None]
    extra = [scaled(reference[1])] if reference else []
    points += [v for v in extra if v is not None]
    lo = scaled(low) if low is not None else (min(points) if points else 0.0)
    hi = scaled(high) if high is not None else (max(points) if points else 1.0)
    if not log and low is None:
        lo = min(lo or 0.0, 0.0)
    lo, hi = float(lo if lo is not None else 0.0), float(hi if hi is not None else 1.0)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 60, width - 12, 26, height - 70
    draw.text((left, 6), title, fill=_TEXT)

    def y_of(value: float) -> float:
        return bottom - (value - lo) / (hi - lo) * (bottom - top)

    for tick in _ticks(lo, hi, log):
        y = y_of(tick)
        draw.line([(left, y), (right, y)], fill=_GRID)
        text = f"1e{tick:.0f}" if log else f"{tick:.3g}"
        draw.text((4, y - 6), text, fill=_TEXT)
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=_TEXT)
    step = (right - left) / len(labels)
    for i, label in enumerate(labels):
        x = left + step * (i + 0.5)
        _vertical_label(image, label[-18:], int(x), bottom + 4)
    names = list(series)
    for k, name in enumerate(names):
        colour = _COLOURS[k % len(_COLOURS)]
        values = [scaled(v) for v in series[name]]
        if bars:
            bar_w = max(2.0, step * 0.8 / len(names))
            for i, value in enumerate(values):
                if value is None:
                    continue
                x0 = left + step * i + step * 0.1 + bar_w * k
                base = y_of(max(lo, min(hi, 0.0 if not log else lo)))
                draw.rectangle(
                    [x0, min(base, y_of(value)), x0 + bar_w - 1, max(base, y_of(value))], fill=colour
                )
        else:
            previous = None
            for i, value in enumerate(values):
                if value is None:
                    previous = None
                    continue
                point = (left + step * (i + 0.5), y_of(value))
                if previous is not None:
                    draw.line([previous, point], fill=colour, width=2)
                draw.ellipse([point[0] - 3, point[1] - 3, point[0] + 3, point[1] + 3], fill=colour)
                previous = point
        draw.rectangle([right - 150, top + 4 + 14 * k, right - 140, top + 14 + 14 * k], fill=colour)
        draw.text((right - 135, top + 2 + 14 * k), name[:24], fill=_TEXT)
    if reference is not None and scaled(reference[1]) is not None:
        y = y_of(float(scaled(reference[1])))  # type: ignore[arg-type]
        for x in range(left, right, 8):
            draw.line([(x, y), (min(x + 4, right), y)], fill=(90, 90, 90))
        draw.text((left + 4, y - 12), reference[0], fill=(90, 90, 90))
    return image


def heat_map(
    values: Sequence[Sequence[float | None]],
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    title: str,
    cell: int = 36,
) -> Image.Image:
    """A matrix of values in [0, 1] (None: grey) as coloured cells, each with its value, rows
    labelled on the left and columns below."""
    if len(values) != len(rows) or any(len(row) != len(cols) for row in values):
        raise InvalidArgumentError(f"heat map values must be {len(rows)} x {len(cols)}")
    left, top = 130, 26
    width, height = left + cell * len(cols) + 12, top + cell * len(rows) + 110
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 6), title, fill=_TEXT)
    for r, row in enumerate(values):
        draw.text((4, top + cell * r + cell // 2 - 6), rows[r][-20:], fill=_TEXT)
        for c, value in enumerate(row):
            x, y = left + cell * c, top + cell * r
            if value is None or not math.isfinite(value):
                fill, ink = (200, 200, 200), _TEXT
            else:
                v = max(0.0, min(1.0, value))
                fill = (int(255 - 220 * v), int(255 - 150 * v), int(255 - 60 * v))
                ink = (255, 255, 255) if v > 0.6 else _TEXT
            draw.rectangle([x, y, x + cell - 2, y + cell - 2], fill=fill)
            if value is not None and math.isfinite(value):
                draw.text((x + 4, y + cell // 2 - 6), f"{value:.2f}", fill=ink)
    for c, label in enumerate(cols):
        _vertical_label(image, label[-18:], left + cell * c + cell // 2, top + cell * len(rows) + 4)
    return image


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [float(t) for t in range(math.floor(lo), math.ceil(hi) + 1)]
    raw = (hi - lo) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _vertical_label(image: Image.Image, text: str, x: int, y: int) -> None:
    """``text`` rotated to read upwards, its end at ``(x, y)`` (below an axis)."""
    label = Image.new("RGB", (max(1, 6 * len(text) + 4), 12), "white")
    ImageDraw.Draw(label).text((2, 0), text, fill=_TEXT)
    rotated = label.rotate(90, expand=True)
    image.paste(rotated, (x - rotated.width // 2, y))


__all__ = ["by_depth", "heat_map"]
