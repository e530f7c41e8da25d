"""HTML for static views (a notebook's ``_repr_html_``), every string in it shown as text.

The one place featviz builds markup in Python. It sits in the base layer so that any layer's
result can have a notebook view (``featviz.layers``' table as well as the reports'); the page kit
(:mod:`featviz.reports.pagekit`) re-exports these functions for the reports.

Example:
    >>> element("tr", element("td", "<b>x</b>"), element("td", "3"))
    '<tr><td>&lt;b&gt;x&lt;/b&gt;</td><td>3</td></tr>'
"""

from __future__ import annotations

import base64
import html as _html

from featviz.errors import InvalidArgumentError


def escape(text: str) -> str:
    """HTML-escape ``text`` for element content or a double-quoted attribute value.

    Args:
        text: any text.

    Returns:
        ASCII text: ``&``, ``<``, ``>``, ``"``, ``'`` and every non-ASCII character (U+2028 and
        lone surrogates from undecodable file names included) written as character references.
    """
    return _html.escape(text, quote=True).encode("ascii", "xmlcharrefreplace").decode("ascii")


class Markup(str):
    """HTML made by :func:`element` (or :func:`image`): inserted as it is where text would be escaped."""


def element(tag: str, *children: str, **attributes: str) -> Markup:
    """An HTML element for a static view (a notebook's), every string in it shown as text.

    Example:
        >>> element("td", "<b>x</b>", title="a&b")
        '<td title="a&amp;b">&lt;b&gt;x&lt;/b&gt;</td>'

    Args:
        tag: the element's name (from featviz's code, never from data).
        children: text (escaped) or other elements (:class:`Markup`, kept).
        attributes: attribute values (escaped); ``class_`` for ``class``.
    """
    attrs = "".join(f' {name.rstrip("_")}="{escape(str(value))}"' for name, value in attributes.items())
    inner = "".join(child if isinstance(child, Markup) else escape(str(child)) for child in children)
    return Markup(f"<{tag}{attrs}>{inner}</{tag}>")


def image(png: bytes, title: str, width: int | None = 112, kind: str = "image/png") -> Markup:
    """An inline image element with ``title`` as its text (escaped); ``width`` None: as drawn.

    Args:
        png: the picture's bytes (a PNG, or the UTF-8 text of an SVG with ``kind="image/svg+xml"``:
            as an ``<img>``, an SVG runs no script and loads nothing).
        title: its tooltip and alternative text.
        width: its width on the page in pixels; None for its own.
        kind: its media type, ``image/png`` or ``image/svg+xml``.

    Raises:
        InvalidArgumentError: another media type.
    """
    if kind not in ("image/png", "image/svg+xml"):
        raise InvalidArgumentError(f"kind must be 'image/png' or 'image/svg+xml', got {kind!r}")
    data = base64.b64encode(png).decode("ascii")
    size = "" if width is None else f' width="{int(width)}"'
    text = escape(title)
    return Markup(f'<img src="data:{kind};base64,{data}"{size} title="{text}" alt="{text}">')


__all__ = ["Markup", "element", "escape", "image"]
