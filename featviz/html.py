"""Self-contained HTML pages that are safe to share: nothing loaded from elsewhere, no injected markup.

Every page featviz writes (the atlas gallery, and later reports) goes through :func:`page`:

    >>> script = READ_DATA_JS + 'document.getElementById("title").textContent = readData().title;'
    >>> text = page(name, '<h1 id="title"></h1>', script=script, data={"title": name})

Three rules keep strings from a model, a file name or a user from ever becoming markup:

- ``body``, ``script`` and ``style`` are written by featviz itself and never interpolated with
  outside strings; outside strings travel in ``data`` (JSON in a ``<script type="application/json">``
  element, escaped so it cannot end that element early) and the page's script shows them with
  ``textContent`` / ``setAttribute``, never by parsing them as HTML;
- the title is HTML-escaped;
- a Content-Security-Policy ``<meta>`` lets the page run only its own inline script and style
  (by SHA-256 hash, so an injected ``<script>`` or ``onerror=`` attribute would not run) and load
  only images from local files (the atlas's own, referenced relatively) or ``data:`` URIs: no
  remote scripts, styles, images, fonts, connections, frames, forms or ``<base>``.
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import json
import re

from featviz.errors import InvalidArgumentError

DATA_ID = "data"
"""The ``id`` of the JSON data element; read it with ``JSON.parse(...textContent)``."""

READ_DATA_JS = (
    f'function readData() {{ return JSON.parse(document.getElementById("{DATA_ID}").textContent); }}\n'
)
"""A script prelude defining ``readData()``, which returns the page's ``data``."""

ELEMENT_JS = """function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
"""
"""A script prelude defining ``element(tag, className, text)``: a new element, its text set with
``textContent`` (never parsed as HTML)."""

# `<`, `>` and `&` would let a string close the <script> element (or open an HTML comment in it);
# U+2028/U+2029 are line terminators in older JavaScript. All are valid as \u escapes in JSON.
_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
# Text that would end (or confuse the HTML parser about the end of) a <script> or <style> element.
_SCRIPT_BREAKOUT = re.compile(r"</script|<!--", re.IGNORECASE)
_STYLE_BREAKOUT = re.compile(r"</style", re.IGNORECASE)

_TEMPLATE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
<script id="{data_id}" type="application/json">{data}</script>
<script>{script}</script>
</body>
</html>
"""


def page(
    title: str,
    body: str,
    *,
    script: str = "",
    style: str = "",
    data: object = None,
    lang: str = "en",
) -> str:
    """A complete, self-contained HTML document that loads nothing from elsewhere.

    Example:
        >>> io.write_text(page("report", _BODY, script=_SCRIPT, style=_STYLE, data=facts), "index.html")

    Args:
        title: the page title, any text (HTML-escaped here).
        body: the markup inside ``<body>``, written by featviz itself. Never put model, file or
            user strings in it: pass them in ``data`` and show them with ``textContent``.
        script: the page's JavaScript (one inline script, run at the end of ``<body>``). It may
            start with :data:`READ_DATA_JS` to get ``readData()``.
        style: the page's CSS (one inline stylesheet; ``style=""`` attributes are blocked).
        data: anything JSON can carry (no NaN or infinity), embedded as the element with id
            :data:`DATA_ID`.
        lang: the document language.

    Returns:
        The page's text, to be written as UTF-8 (e.g. with :func:`featviz.io.write_text`).

    Raises:
        InvalidArgumentError: ``script`` or ``style`` contains text that would end its element
            early, or ``data`` cannot be written as JSON.
    """
    script = _normalize_newlines(script)
    style = _normalize_newlines(style)
    if _SCRIPT_BREAKOUT.search(script):
        raise InvalidArgumentError(
            "page script must not contain '</script' or '<!--' (they change where the HTML parser "
            "ends the script); build such strings in JavaScript, e.g. '<' + '/script'"
        )
    if _STYLE_BREAKOUT.search(style):
        raise InvalidArgumentError("page style must not contain '</style'; write it as '\\3c /style'")
    return _TEMPLATE.format(
        lang=escape(lang),
        csp=escape(content_security_policy(script, style)),
        title=escape(title),
        style=style,
        body=body,
        data_id=DATA_ID,
        data=json_for_script(data),
        script=script,
    )


def escape(text: str) -> str:
    """HTML-escape ``text`` for element content or a double-quoted attribute value.

    Args:
        text: any text.

    Returns:
        ASCII text: ``&``, ``<``, ``>``, ``"``, ``'`` and every non-ASCII character (U+2028 and
        lone surrogates from undecodable file names included) written as character references.
    """
    return _html.escape(text, quote=True).encode("ascii", "xmlcharrefreplace").decode("ascii")


def json_for_script(data: object) -> str:
    """``data`` as JSON that can sit inside a ``<script type="application/json">`` element.

    ``<``, ``>``, ``&``, U+2028, U+2029 and every other non-ASCII character are written as
    ``\\u`` escapes, so no string in ``data`` can close the element; ``JSON.parse`` of the
    element's ``textContent`` gives ``data`` back exactly.

    Args:
        data: anything :func:`json.dumps` accepts, without NaN or infinity.

    Returns:
        The JSON text.

    Raises:
        InvalidArgumentError: ``data`` holds something JSON cannot carry.
    """
    try:
        text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(
            f"page data must be plain JSON (dicts, lists, str, int, finite float, bool, None): {error}; "
            "convert other values (NaN/inf to None) before making the page"
        ) from error
    return text.translate(_JSON_ESCAPES)


def content_security_policy(script: str = "", style: str = "") -> str:
    """The Content-Security-Policy of a page whose only inline script and style are these.

    Scripts and styles are allowed by SHA-256 hash only (event-handler attributes, ``style``
    attributes and any other inline code are blocked); images may come from files (``'self'``
    and ``file:``, since browsers differ on whether ``'self'`` covers a ``file://`` page) and
    ``data:`` URIs; everything else (remote URLs, fonts, fetch, frames, forms, ``<base>``) is
    refused.

    Args:
        script: the page's inline script text exactly as written in the page ("" for none).
        style: the page's inline stylesheet text exactly as written ("" for none).

    Returns:
        The policy text, for ``<meta http-equiv="Content-Security-Policy" content="...">``.
    """
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hash_source(script)}",
            f"style-src {_hash_source(style)}",
            "img-src 'self' file: data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _hash_source(text: str) -> str:
    if not text:
        return "'none'"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _normalize_newlines(text: str) -> str:
    # The HTML parser turns CR LF and CR into LF before the browser hashes an inline script, so
    # hash (and write) the text the browser will see.
    return text.replace("\r\n", "\n").replace("\r", "\n")
