"""Links in the course's web pages: rewritten to pages, or checked to stay home.

Two jobs on the HTML that ``coursekit site`` writes:

- ``rewrite_links``: a markdown link between notebooks (``foo.ipynb``,
  ``../exercises/foo.ipynb#part``) points at the page made from it; a link
  to a file the site does not publish (a solution, a ``.py`` file, the
  README) becomes plain text, so that no link on the site is broken.
- ``external_resources``: every address on another host that a browser
  would *load* for the page (a script, a style sheet, an image, a font, a
  module imported by an inline script). Links a reader may follow
  (``<a href>``) are not loads and are left alone.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

__all__ = ["external_resources", "rewrite_links"]

# mistune (nbconvert's markdown renderer) writes double-quoted attributes.
_ANCHOR = re.compile(
    r'<a\b(?P<before>[^>]*?)\bhref="(?P<href>[^"]*)"(?P<after>[^>]*)>'
    r"(?P<inner>.*?)</a>",
    re.S,
)
_UNPUBLISHED = (
    '<span class="ck-unpublished" title="{title}">{inner}</span>'
    '<span class="ck-unpublished-note"> ({where})</span>'
)


def rewrite_links(
    page_html: str, *, source: str, published: Mapping[str, str], page: str
) -> str:
    """``page_html`` with its links into the repository pointed at the site.

    ``source`` is the notebook's path in the repository
    (``notebooks/00_start_here.ipynb``), ``page`` its page's path on the
    site, and ``published`` maps each published notebook's repository path
    to its page's site path.
    """
    folder = posixpath.dirname(source)
    page_folder = posixpath.dirname(page)

    def replace(match: re.Match[str]) -> str:
        href = html.unescape(match["href"])
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path:
            return match[0]  # another site, mailto:, or a place on this page
        target = posixpath.normpath(posixpath.join(folder, unquote(parts.path)))
        if target in published:
            new = posixpath.relpath(published[target], page_folder or ".")
            if parts.fragment:
                new += "#" + parts.fragment
            return (
                f'<a{match["before"]}href="{html.escape(new)}"{match["after"]}>'
                f"{match['inner']}</a>"
            )
        where = f"{target} in the course's repository"
        return _UNPUBLISHED.format(
            title=html.escape(f"{where}; not published on this site"),
            inner=match["inner"],
            where=html.escape(where),
        )

    return _ANCHOR.sub(replace, page_html)


_REMOTE = r"(?:https?:)?//[^\s\"'<>()]+"
# An attribute that makes the browser fetch, on any tag but <a>.
_LOADING_ATTRIBUTE = re.compile(
    r"<(?!a\b)(?P<tag>[a-zA-Z][\w-]*)\b[^>]*?\b"
    r"(?:src|href|srcset|poster|data|action|background)\s*=\s*"
    rf"[\"']?\s*(?P<url>{_REMOTE})",
    re.S,
)
_CSS_URL = re.compile(rf"(?:url\(\s*[\"']?|@import\s+[\"'])\s*(?P<url>{_REMOTE})")
_SCRIPT = re.compile(r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)
# Data for a script to read (a schema, widget state), never run.
_DATA_SCRIPT = re.compile(
    r"""\btype\s*=\s*["']?application/(?:[\w.+-]+\+)?json""", re.I
)
# With its scheme: a bare "//" in a script is as often a comment.
_URL_IN_SCRIPT = re.compile(r"(?P<url>https?://[^\s\"'<>()`]+)")


def external_resources(page_html: str) -> list[str]:
    """The addresses on other hosts that the page would load, in order.

    Relative addresses and ``data:`` URLs are local. Inside inline scripts
    any absolute address counts: a script builds the URLs it loads (a CDN
    base joined to a file name), so a test on attributes alone misses them.
    JSON in a ``<script type="application/json">`` is data, not code.
    """
    found: list[str] = []
    for pattern in (_LOADING_ATTRIBUTE, _CSS_URL):
        found += [match["url"] for match in pattern.finditer(page_html)]
    for script in _SCRIPT.finditer(page_html):
        if _DATA_SCRIPT.search(script["attrs"]):
            continue
        found += [m["url"] for m in _URL_IN_SCRIPT.finditer(script["body"])]
    return found
