"""The charts of a diagnosis as SVG text (no plotting library, nothing from the network).

- :func:`by_depth`: one or more series over a model's layers (lines with points, optional error
  bars and hollow points, or bars), linear or log value axis, dashed reference lines and one
  marked layer — unit health, gradient health, probe accuracy.
- :func:`heat_map`: a matrix of values in [0, 1] with both axes labelled and a colour scale — CKA
  between layers.

Every chart has a title, a label on each axis and readable tick values: a linear axis gets 1, 2 or
5 times a power of ten per tick, a log axis spans whole decades with one tick per decade written
as a plain number (``0.001``, ``1``, ``1000``; ``10⁻⁶`` beyond four decades). Text stays text (it
can be read from the file, and scales), and every string is written as escaped XML: an SVG shown
as an ``<img>`` runs no script and loads nothing, so layer names never become markup.

Example::

    svg = by_depth(["blocks.0", "blocks.1"], {"accuracy": [0.6, 0.9]}, title="Probes",
                   y_label="held-out accuracy", low=0.0, high=1.0)
    files.write_text(svg, out / "probes.svg")
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

from featviz.errors import InvalidArgumentError

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
_GRID = "#e1e1e1"
_TEXT = "#1e1e1e"
_QUIET = "#5a5a5a"
_FONT = 'font-family="DejaVu Sans, Verdana, Arial, sans-serif"'
# Characters XML 1.0 does not allow (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")

#: A longer layer name is shortened to an ellipsis and its last characters, this many in all.
LABEL_CHARS = 24

Interval = tuple[float | None, float | None] | None


def by_depth(
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    title: str,
    y_label: str,
    x_label: str = "layer (input → output)",
    log: bool = False,
    bars: bool = False,
    references: Sequence[tuple[str, float]] = (),
    low: float | None = None,
    high: float | None = None,
    errors: dict[str, Sequence[Interval]] | None = None,
    hollow: dict[str, Sequence[bool]] | None = None,
    mark: tuple[int, str] | None = None,
    note: str = "",
    width: int = 760,
) -> str:
    """A chart of ``series`` (name → one value per layer; None for missing) over ``labels``.

    Args:
        labels: the layers, in depth order (the x axis's ticks).
        series: the values to draw, one series per legend entry.
        title, y_label, x_label: the chart's title and axis labels.
        log: a log10 value axis over whole decades (values ≤ 0 are left out).
        bars: bars side by side instead of lines with points.
        references: ``(name, value)`` dashed horizontal lines (e.g. chance accuracy).
        low, high: the value axis range (default: the data's, rounded out to ticks; 0 included
            on a linear axis).
        errors: per series, one ``(low, high)`` interval (or None) per layer, drawn as error bars.
        hollow: per series, per layer whether to draw its point hollow (e.g. not significant).
        mark: ``(index, text)``: a dashed vertical line at one layer, labelled.
        note: a line of small text under the legend (what hollow points or bars mean).
        width: in pixels (the height follows from the layers' names).

    Returns:
        The SVG document's text.

    Raises:
        InvalidArgumentError: no layers, or a series whose length is not one value per layer.
    """
    if not labels:
        raise InvalidArgumentError("a chart needs at least one layer")
    given: dict[str, Sequence[object]] = {**series, **(errors or {}), **(hollow or {})}
    for name, entries in given.items():
        if len(entries) != len(labels):
            raise InvalidArgumentError(f"series {name!r} has {len(entries)} values for {len(labels)} layers")

    def scaled(value: float | None) -> float | None:
        if value is None or not math.isfinite(value) or (log and value <= 0):
            return None
        return math.log10(value) if log else float(value)

    points = [v for values in series.values() for v in map(scaled, values) if v is not None]
    for intervals in (errors or {}).values():
        points += [v for pair in intervals if pair for v in map(scaled, pair) if v is not None]
    points += [v for v in (scaled(value) for _, value in references) if v is not None]
    lo, hi, ticks = _axis(
        points, None if low is None else scaled(low), None if high is None else scaled(high), log
    )

    shown = [_short(label) for label in labels]
    label_size = 11 if len(labels) <= 24 else 9
    label_depth = int(0.62 * label_size * max(len(text) for text in shown) * math.sin(math.radians(45))) + 14
    left, right, top = 78, width - 16, 58 if note else 46
    bottom = top + 230
    height = bottom + label_depth + 34
    step = (right - left) / len(labels)

    def x_of(i: int) -> float:
        return left + step * (i + 0.5)

    def y_of(value: float) -> float:
        return bottom - (min(hi, max(lo, value)) - lo) / (hi - lo) * (bottom - top)

    out = _open(width, height)
    out.append(_text(left, 18, title, size=14, weight="bold"))
    for tick, text in ticks:
        y = y_of(tick)
        out.append(_line(left, y, right, y, _GRID))
        out.append(_line(left - 5, y, left, y, _TEXT))
        out.append(_text(left - 8, y + 4, text, anchor="end", cls="tick y"))
    middle = (top + bottom) / 2
    out.append(_text(16, middle, y_label, anchor="middle", rotate=(16, middle), cls="axis y"))
    out.append(_line(left, top, left, bottom, _TEXT))
    out.append(_line(left, bottom, right, bottom, _TEXT))
    every = max(1, math.ceil(label_size * 1.1 / step))  # leave names out rather than overlap them
    for i, text in enumerate(shown):
        x = x_of(i)
        out.append(_line(x, bottom, x, bottom + 4, _TEXT))
        if i % every == 0 or i == len(shown) - 1:
            at = (x + 3, bottom + 10)
            out.append(_text(*at, text, size=label_size, anchor="end", rotate=at, angle=-45, cls="tick x"))
    out.append(_text((left + right) / 2, height - 10, x_label, anchor="middle", cls="axis x"))

    names = list(series)
    for k, name in enumerate(names):
        colour = _COLOURS[k % len(_COLOURS)]
        values = [scaled(v) for v in series[name]]
        if bars:
            group = step * 0.8
            bar = max(1.5, group / len(names))
            base = y_of(lo if log else 0.0)
            for i, value in enumerate(values):
                if value is not None:
                    x0 = left + step * i + step * 0.1 + bar * k
                    y = y_of(value)
                    out.append(
                        f'<rect x="{x0:.1f}" y="{min(base, y):.1f}" width="{max(1.0, bar - 1):.1f}" '
                        f'height="{max(abs(base - y), 0.5):.1f}" fill="{colour}"/>'
                    )
            continue
        for i, pair in enumerate((errors or {}).get(name, [None] * len(labels))):
            ends = [scaled(v) for v in pair] if pair else []
            if len(ends) == 2 and None not in ends:
                x, y0, y1 = x_of(i), y_of(ends[0]), y_of(ends[1])  # type: ignore[arg-type]
                out.append(_line(x, y0, x, y1, colour, 1.5))
                out.append(_line(x - 4, y0, x + 4, y0, colour, 1.5))
                out.append(_line(x - 4, y1, x + 4, y1, colour, 1.5))
        run: list[str] = []
        for i, value in enumerate(values + [None]):
            if value is not None:
                run.append(f"{x_of(i):.1f},{y_of(value):.1f}")
                continue
            if len(run) > 1:
                line = " ".join(run)
                out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
            run = []
        empty = (hollow or {}).get(name, [False] * len(labels))
        for i, value in enumerate(values):
            if value is not None:
                fill = "white" if empty[i] else colour
                out.append(
                    f'<circle cx="{x_of(i):.1f}" cy="{y_of(value):.1f}" r="4" fill="{fill}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
    for name, value in references:
        position = scaled(value)
        if position is not None:
            y = y_of(position)
            out.append(_line(left, y, right, y, _QUIET, 1.2, dashed=True))
            out.append(_text(right - 4, y - 5, name, anchor="end", fill=_QUIET, cls="reference"))
    if mark is not None and 0 <= mark[0] < len(labels):
        x = x_of(mark[0])
        out.append(_line(x, top, x, bottom, "#2a7", 1.5, dashed=True))
        near_right = x > (left + right) / 2
        anchor = "end" if near_right else "start"
        out.append(
            _text(x - 5 if near_right else x + 5, top + 12, mark[1], anchor=anchor, fill="#176", cls="mark")
        )
    x = float(left)
    for k, name in enumerate(names):
        colour = _COLOURS[k % len(_COLOURS)]
        out.append(f'<rect x="{x:.1f}" y="28" width="12" height="12" fill="{colour}"/>')
        out.append(_text(x + 17, 38, name, cls="legend"))
        x += 17 + 6.8 * len(name) + 18
    if note:
        out.append(_text(left, 52, note, size=11, fill=_QUIET, cls="note"))
    out.append("</svg>\n")
    return "\n".join(out)


def heat_map(
    values: Sequence[Sequence[float | None]],
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    title: str,
    row_label: str,
    col_label: str,
    cell: int = 36,
) -> str:
    """A matrix of values in [0, 1] (None: grey) as coloured cells, each with its value, rows
    labelled on the left and columns below, each axis titled, and a colour scale.

    Returns:
        The SVG document's text.

    Raises:
        InvalidArgumentError: ``values`` is not ``len(rows) × len(cols)``.
    """
    if len(values) != len(rows) or any(len(row) != len(cols) for row in values):
        raise InvalidArgumentError(f"heat map values must be {len(rows)} x {len(cols)}")
    row_names = [_short(name) for name in rows]
    col_names = [_short(name) for name in cols]
    left = 34 + int(6.6 * max((len(name) for name in row_names), default=1))
    top = 40
    grid_w, grid_h = cell * len(cols), cell * len(rows)
    longest = max((len(name) for name in col_names), default=1)
    label_depth = int(6.6 * longest * math.sin(math.radians(45))) + 16
    width = max(left + grid_w + 110, 420)
    height = top + grid_h + label_depth + 36
    out = _open(width, height)
    out.append(_text(8, 20, title, size=14, weight="bold"))
    middle = top + grid_h / 2
    out.append(_text(14, middle, row_label, anchor="middle", rotate=(14, middle), cls="axis y"))
    for r, row in enumerate(values):
        y = float(top + cell * r)
        out.append(_text(left - 6, y + cell / 2 + 4, row_names[r], anchor="end", cls="tick y"))
        for c, value in enumerate(row):
            x = float(left + cell * c)
            if value is None or not math.isfinite(value):
                fill, ink, text = "#c8c8c8", _TEXT, "n/a"
            else:
                fill, ink, text = _shade(value), ("white" if value > 0.6 else _TEXT), f"{value:.2f}"
            out.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}"/>')
            out.append(_text(x + (cell - 2) / 2, y + cell / 2 + 3, text, size=10, anchor="middle", fill=ink))
    for c, name in enumerate(col_names):
        x = left + cell * c + cell / 2
        y = float(top + grid_h + 6)
        out.append(_text(x + 3, y, name, anchor="end", rotate=(x + 3, y), angle=-45, cls="tick x"))
    out.append(_text(left + grid_w / 2, height - 10, col_label, anchor="middle", cls="axis x"))
    scale_x, scale_h = left + grid_w + 24, min(grid_h, 160)
    for k in range(20):
        share = 1 - k / 20
        out.append(
            f'<rect x="{scale_x}" y="{top + scale_h * k / 20:.1f}" width="14" '
            f'height="{scale_h / 20 + 0.5:.1f}" fill="{_shade(share)}"/>'
        )
    for value in (0.0, 0.5, 1.0):
        y = top + scale_h * (1 - value)
        out.append(_line(scale_x + 14, y, scale_x + 18, y, _TEXT))
        out.append(_text(scale_x + 21, y + 4, f"{value:.1f}", cls="tick scale"))
    out.append(_text(scale_x, top + scale_h + 18, "CKA", cls="axis scale"))
    out.append("</svg>\n")
    return "\n".join(out)


# -- pieces ----------------------------------------------------------------------------------------


def _axis(
    points: list[float], low: float | None, high: float | None, log: bool
) -> tuple[float, float, list[tuple[float, str]]]:
    """The value axis's range (in the drawn scale: log10 on a log axis) and its labelled ticks."""
    lo = low if low is not None else (min(points) if points else 0.0)
    hi = high if high is not None else (max(points) if points else 1.0)
    if log:
        lo, hi = math.floor(lo + 1e-9), math.ceil(hi - 1e-9)
        if hi <= lo:  # within one decade: show the decade below too
            lo = hi - 1
        stride = max(1, math.ceil((hi - lo) / 8))
        lo = hi - stride * math.ceil((hi - lo) / stride)
        return float(lo), float(hi), [(float(k), _decade(k)) for k in range(int(lo), int(hi) + 1, stride)]
    if low is None:
        lo = min(lo, 0.0)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    rough = (hi - lo) / 5
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough * (1 - 1e-9))
    if low is None:
        lo = math.floor(lo / step + 1e-9) * step
    if high is None:
        hi = math.ceil(hi / step - 1e-9) * step
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    for k in range(first, math.floor(hi / step + 1e-9) + 1):
        value = k * step + 0.0  # + 0.0: no "-0.0"
        ticks.append((value, f"{value:.{decimals}f}" if k else f"{0.0:.{decimals}f}"))
    return lo, hi, ticks


def _short(label: str) -> str:
    """A layer's name shortened to its end (where dotted paths differ), marked with an ellipsis."""
    return label if len(label) <= LABEL_CHARS else "…" + label[1 - LABEL_CHARS :]


def _decade(k: int) -> str:
    """``10**k`` as a tick label: a plain number within four decades of 1, else ``10⁻⁶``."""
    if -4 <= k <= 4:
        return f"{10.0**k:.{max(0, -k)}f}"
    return "10" + str(k).translate(_SUPERSCRIPT)


def _shade(value: float) -> str:
    v = max(0.0, min(1.0, value))
    return f"#{int(255 - 220 * v):02x}{int(255 - 150 * v):02x}{int(255 - 60 * v):02x}"


def _open(width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {_FONT} font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]


def _line(
    x0: float, y0: float, x1: float, y1: float, colour: str, width: float = 1.0, dashed: bool = False
) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return (
        f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{colour}" '
        f'stroke-width="{width}"{dash}/>'
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: int | None = None,
    anchor: str = "start",
    weight: str | None = None,
    fill: str = _TEXT,
    rotate: tuple[float, float] | None = None,
    angle: int = -90,
    cls: str | None = None,
) -> str:
    """A ``<text>`` element holding ``text`` as escaped XML (characters XML forbids dropped)."""
    attributes = f'x="{x:.1f}" y="{y:.1f}" fill="{fill}" text-anchor="{anchor}"'
    if size is not None:
        attributes += f' font-size="{size}"'
    if weight is not None:
        attributes += f' font-weight="{weight}"'
    if rotate is not None:
        attributes += f' transform="rotate({angle} {rotate[0]:.1f} {rotate[1]:.1f})"'
    if cls is not None:
        attributes += f' class="{cls}"'
    return f"<text {attributes}>{html.escape(_NOT_XML.sub('', text), quote=False)}</text>"


__all__ = ["LABEL_CHARS", "by_depth", "heat_map"]
