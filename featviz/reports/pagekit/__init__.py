"""Self-contained HTML pages that are safe to share: nothing loaded from elsewhere, no injected markup.

Every page featviz writes (the atlas gallery, the microscope, the reports) goes through :func:`page`,
which inlines the kit's own ``kit.css`` and ``kit.js`` (files beside this module) before the page's
stylesheet and script, which live in ``.css`` and ``.js`` files beside the page's module:

    >>> js, css = asset(__package__, "page.js"), asset(__package__, "page.css")
    >>> text = page(name, '<h1 id="title"></h1>', js=js, css=css, data={"title": name})

``kit.js`` gives every page ``readData()`` (the page's ``data``), ``element(tag, className, text)``,
``link(href, text)``, ``picture(file, alt, className, title)``, ``figure(file, caption, className)``,
``fixed(value, digits)``, ``significant(value, digits)``, ``pad(number, width)``, and marks the
document ``data-images-loaded="loaded/total"`` once it has loaded.

Three rules keep strings from a model, a file name or a user from ever becoming markup:

- ``body``, ``js`` and ``css`` are written by featviz itself and never interpolated with
  outside strings; outside strings travel in ``data`` (JSON in a ``<script type="application/json">``
  element, escaped so it cannot end that element early) and the page's script shows them with
  ``textContent`` / ``setAttribute``, never by parsing them as HTML;
- the title is HTML-escaped;
- a Content-Security-Policy ``<meta>`` lets the page run only its own inline script and style
  (by SHA-256 hash, so an injected ``<script>`` or ``onerror=`` attribute would not run) and load
  only images from local files (the atlas's own, referenced relatively) or ``data:`` URIs: no
  remote scripts, styles, images, fonts, connections, frames, forms or ``<base>``.

Notebook views are static HTML built with :func:`element` and :func:`image` (every string as
text); they live in the base module :mod:`featviz.markup`, so that results below the reports
(``featviz.layers``) have notebook views too, and are re-exported here.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from importlib import resources

from featviz.errors import InvalidArgumentError
from featviz.markup import Markup, element, escape, image

DATA_ID = "data"
"""The ``id`` of the JSON data element; ``readData()`` in ``kit.js`` reads it by this id."""

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
<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}
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
    js: str = "",
    css: str = "",
    data: object = None,
    lang: str = "en",
    script: str | None = None,
    style: str | None = None,
    refresh: int | None = None,
) -> str:
    """A complete, self-contained HTML document that loads nothing from elsewhere.

    The page's inline script is the kit's ``kit.js`` then ``js``, its inline stylesheet the kit's
    ``kit.css`` then ``css``; the Content-Security-Policy allows exactly that text.

    Example:
        >>> js, css = asset(__package__, "page.js"), asset(__package__, "page.css")
        >>> files.write_text(page("report", _BODY, js=js, css=css, data=facts), "index.html")

    Args:
        title: the page title, any text (HTML-escaped here).
        body: the markup inside ``<body>``, written by featviz itself. Never put model, file or
            user strings in it: pass them in ``data`` and show them with ``textContent``.
        js: the page's own JavaScript (usually :func:`asset`), run at the end of ``<body>`` after
            ``kit.js``, whose ``readData()``, ``element()``, ``picture()``... it may use.
        css: the page's own CSS (usually :func:`asset`), after ``kit.css`` (so it may override
            it); ``style=""`` attributes are blocked.
        data: anything JSON can carry (no NaN or infinity), embedded as the element with id
            :data:`DATA_ID`.
        lang: the document language.
        script: instead of ``kit.js`` and ``js``: the page's whole inline script, exactly (a page
            without the kit's script).
        style: instead of ``kit.css`` and ``css``: the page's whole inline stylesheet, exactly.
        refresh: reload the page every this many seconds (a report still being filled in; the
            browser reloads the file itself, no server needed).

    Returns:
        The page's text, to be written as UTF-8 (e.g. with :func:`featviz.files.write_text`).

    Raises:
        InvalidArgumentError: the script or stylesheet contains text that would end its element
            early, both ``js`` and ``script`` (or ``css`` and ``style``) are given, or ``data``
            cannot be written as JSON.
    """
    if (script is not None and js) or (style is not None and css):
        raise InvalidArgumentError(
            "give the page's own code as js=/css= (after the kit's) or its whole code as "
            "script=/style= (instead of the kit's), not both"
        )
    script = _normalize_newlines(_joined(asset(__name__, "kit.js"), js) if script is None else script)
    style = _normalize_newlines(_joined(asset(__name__, "kit.css"), css) if style is None else style)
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
        refresh="" if refresh is None else f'\n<meta http-equiv="refresh" content="{int(refresh)}">',
        style=style,
        body=body,
        data_id=DATA_ID,
        data=json_for_script(data),
        script=script,
    )


@functools.cache
def asset(package: str, name: str) -> str:
    """The text of ``name``, a file shipped beside the modules of ``package`` (package data).

    Pages keep their JavaScript and CSS in such files (``kit.js`` and ``kit.css`` here, e.g.
    ``page.js`` and ``page.css`` beside a report's ``page.py``), read once per process.

    Example:
        >>> css = asset("featviz.reports.diagnosis", "page.css")

    Args:
        package: the dotted name of the package holding the file (a module's ``__package__``).
        name: the file's name in that package's folder.

    Returns:
        The file's text (UTF-8).
    """
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def _joined(kit: str, own: str) -> str:
    return f"{kit}\n{own}" if own else kit


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


__all__ = [
    "DATA_ID",
    "Markup",
    "asset",
    "content_security_policy",
    "element",
    "escape",
    "image",
    "json_for_script",
    "page",
]
