"""The HTML of the course site's own pages: index, "Run it", API docs, nav bars.

Every page here loads only files of the site itself, by relative address,
so that the site works from any folder of any host (GitHub Pages puts it
under ``/<repository>/``) and without internet.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SITE_CSS",
    "ApiPage",
    "NotebookPage",
    "api_page",
    "head_links",
    "index_page",
    "nav",
    "run_page",
]

ASSETS = "assets"
#: Binder's launch URL for a GitHub repository, the start page open.
BINDER_URL = "https://mybinder.org/v2/gh/{repo}/HEAD?urlpath=lab/tree/notebooks/00_start_here.ipynb"
REPO_PLACEHOLDER = "OWNER/REPO"

SITE_CSS = """\
.ck-nav { display: flex; gap: 1.5em; flex-wrap: wrap; align-items: baseline;
  font-family: system-ui, sans-serif; font-size: 15px; padding: 0.6em 1em;
  background: #f3f6f9; border-bottom: 1px solid #d0d7de; }
.ck-nav.ck-bottom { border-top: 1px solid #d0d7de; border-bottom: 0;
  margin-top: 2em; }
.ck-nav .ck-next { margin-left: auto; }
.ck-unpublished-note { color: #57606a; font-size: 90%; }
body.ck-page { font-family: system-ui, sans-serif; line-height: 1.5;
  max-width: 52em; margin: 0 auto; padding: 0 1em 3em; }
body.ck-page > .ck-nav { margin: 0 -1em; }
body.ck-page code, body.ck-page pre { font-family: ui-monospace, monospace;
  background: #f6f8fa; padding: 0.1em 0.3em; border-radius: 4px; }
body.ck-page pre { padding: 0.7em 1em; overflow-x: auto; }
.ck-chapter li { margin: 0.15em 0; }
.ck-kind { color: #57606a; font-size: 90%; }
"""


@dataclass(frozen=True)
class NotebookPage:
    """A page made from a notebook of the course."""

    source: str  # path in the repository: notebooks/01_hello_world.ipynb
    href: str  # path on the site: notebooks/01_hello_world.html
    title: str  # the notebook's first heading
    chapter: int
    kind: str  # "lesson" or "exercise"


@dataclass(frozen=True)
class ApiPage:
    """A chapter's API documentation: Swagger UI over its openapi.json."""

    chapter: int
    title: str
    href: str  # api/ch01/index.html


def _up(page: str) -> str:
    """The relative path from ``page``'s folder back to the site's root."""
    depth = page.count("/")
    return "../" * depth


def head_links(page: str) -> str:
    """The favicon and style sheet, relative to ``page``."""
    up = _up(page)
    return (
        f'<link rel="icon" type="image/png" href="{up}{ASSETS}/favicon.png">\n'
        f'<link rel="stylesheet" href="{up}{ASSETS}/site.css">\n'
    )


def _link(page: str, target: str, text: str, rel: str = "") -> str:
    href = _up(page) + target
    rel_attr = f' rel="{rel}" class="ck-{rel}"' if rel else ""
    return f'<a href="{html.escape(href)}"{rel_attr}>{html.escape(text)}</a>'


def nav(
    page: str,
    previous: NotebookPage | None,
    following: NotebookPage | None,
    *,
    bottom: bool = False,
) -> str:
    """The bar above (and below) a page: the index, previous and next pages."""
    parts = [
        _link(page, "index.html", "Course index"),
        _link(page, "run.html", "Run it"),
    ]
    if previous is not None:
        parts.append(_link(page, previous.href, f"← {previous.title}", "prev"))
    if following is not None:
        parts.append(_link(page, following.href, f"{following.title} →", "next"))
    where = " ck-bottom" if bottom else ""
    label = "Course pages, end" if bottom else "Course pages"
    return (
        f'<nav class="ck-nav{where}" aria-label="{label}">' + " ".join(parts) + "</nav>"
    )


def _document(page: str, title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head_links(page)}</head>\n"
        f'<body class="ck-page">\n{nav(page, None, None)}\n<main>\n{body}\n</main>\n'
        "</body>\n</html>\n"
    )


def index_page(
    pages: Sequence[NotebookPage],
    apis: Sequence[ApiPage],
    chapter_titles: dict[int, str],
) -> str:
    """The site's front page: every page, chapter by chapter, in course order."""
    chapters = sorted({page.chapter for page in pages} | {api.chapter for api in apis})
    sections = []
    for chapter in chapters:
        items = []
        for page in pages:
            if page.chapter == chapter:
                items.append(
                    f'<li><a href="{html.escape(page.href)}">'
                    f"{html.escape(page.title)}</a> "
                    f'<span class="ck-kind">{page.kind}</span></li>'
                )
        for api in apis:
            if api.chapter == chapter:
                items.append(
                    f'<li><a href="{html.escape(api.href)}">{html.escape(api.title)}'
                    '</a> <span class="ck-kind">API documentation</span></li>'
                )
        name = chapter_titles.get(chapter, "start here")
        sections.append(
            f'<section class="ck-chapter" id="chapter-{chapter:02d}">'
            f"<h2>Chapter {chapter:02d} · {html.escape(name)}</h2>"
            f"<ol>{''.join(items)}</ol></section>"
        )
    body = (
        "<h1>FastAPI, in notebooks</h1>\n"
        "<p>The course's lessons and exercises with their saved outputs, "
        "and each chapter's API as Swagger UI. To run the code yourself, see "
        '<a href="run.html">Run it</a>.</p>\n' + "\n".join(sections)
    )
    return _document("index.html", "FastAPI course", body)


def run_page(repo: str | None) -> str:
    """How to run the notebooks: locally, on Binder, on a JupyterHub."""
    shown = repo or REPO_PLACEHOLDER
    binder = BINDER_URL.format(repo=shown)
    placeholder_note = (
        ""
        if repo
        else f"<p>Replace <code>{REPO_PLACEHOLDER}</code> with the GitHub owner "
        "and name of your copy of the course.</p>"
    )
    if repo:
        readme = (
            f'<a href="https://github.com/{html.escape(repo)}#teaching-on-jupyterhub">'
            "Teaching on JupyterHub</a>"
        )
    else:
        readme = "<em>Teaching on JupyterHub</em>"
    body = f"""<h1>Run it</h1>
<p>This site shows the notebooks with the outputs they had when they were
last run. To change and run the code, open them in JupyterLab, one of three
ways.</p>
<h2>On your machine</h2>
<p>With Python 3.11 or newer and <code>make</code>, from a clone of the
repository:</p>
<pre><code>make lab</code></pre>
<p>The first time, it creates <code>.venv/</code> and installs the course
(about a minute); then JupyterLab opens on
<code>notebooks/00_start_here.ipynb</code>.</p>
<h2>On Binder</h2>
<p>Nothing to install: Binder builds the environment from the repository's
<code>environment.yml</code> and opens the start page:</p>
<p><a href="{html.escape(binder)}">{html.escape(binder)}</a></p>
{placeholder_note}
<h2>On a JupyterHub</h2>
<p>For a class: the README's section {readme} describes the set-up in
<code>deploy/jupyterhub/</code> (an image and Zero to JupyterHub values).
Learners follow an nbgitpuller link, which pulls the notebooks into their
home and opens a lesson; make one with</p>
<pre><code>python deploy/jupyterhub/nbgitpuller_link.py --hub https://&lt;hub&gt; \\
    --repo https://github.com/{html.escape(shown)} \\
    --notebook notebooks/01_hello_world.ipynb</code></pre>
"""
    return _document("run.html", "Run the course", body)


def api_page(api: ApiPage, spec: dict[str, Any]) -> str:
    """Swagger UI for one chapter, over the openapi.json next to it.

    Served over HTTP, the page fetches ``openapi.json``, as FastAPI's own
    ``/docs`` does. Opened from a file (``file://``) a browser refuses that
    fetch, so the same schema is also in the page, and used there.
    """
    up = _up(api.href)
    # As FastAPI's own /docs page (fastapi.openapi.docs), but with the
    # site's copies of the assets; no validator badge, which would load an
    # image from validator.swagger.io.
    settings = {
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "showExtensions": True,
        "showCommonExtensions": True,
        "validatorUrl": None,
        # No "Try it out": a static site has no API to send requests to.
        "supportedSubmitMethods": [],
    }
    # "</" would end the <script> element early; "<\/" is the same JSON.
    inline = json.dumps(spec).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(api.title)}</title>
{head_links(api.href)}<link rel="stylesheet" href="{up}{ASSETS}/swagger-ui.css">
</head>
<body>
{nav(api.href, None, None)}
<div id="swagger-ui"></div>
<script type="application/json" id="ck-openapi">{inline}</script>
<script src="{up}{ASSETS}/swagger-ui-bundle.js"></script>
<script>
const fromFile = window.location.protocol === "file:";
const schema = fromFile
  ? {{spec: JSON.parse(document.getElementById("ck-openapi").textContent)}}
  : {{url: "openapi.json"}};
const ui = SwaggerUIBundle(Object.assign({json.dumps(settings)}, schema, {{
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}}));
</script>
</body>
</html>
"""
