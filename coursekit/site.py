"""The course as a website: ``coursekit site [--out build/site]``.

Every lesson (``notebooks/*.ipynb``) and exercise (``exercises/*.ipynb``)
becomes a page, rendered by nbconvert's ``lab`` template from the outputs
saved in the notebook (nothing is executed). Each chapter's API gets its
``openapi.json`` and a Swagger UI page; an index lists everything in course
order, and a "Run it" page says how to open the notebooks in JupyterLab.
``solutions/`` is never published.

The site is self-contained: it loads nothing from another host (no
require.js, MathJax or widget CDN; Swagger UI from fastapi-offline's copy,
as ``coursekit.docs_assets`` serves it), and every page is checked for
that before ``build_site`` returns.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursekit import docs_assets
from coursekit.errors import CourseError
from coursekit.site_html import (
    ASSETS,
    SITE_CSS,
    ApiPage,
    NotebookPage,
    api_page,
    head_links,
    index_page,
    nav,
    run_page,
)
from coursekit.site_links import external_resources, rewrite_links

__all__ = ["ROOT", "SiteReport", "build_site", "main"]

ROOT = Path(__file__).resolve().parents[1]
#: The folders whose notebooks are published, and what their pages are.
PUBLISHED = {"notebooks": "lesson", "exercises": "exercise"}
#: Left in every site built, so that a rebuild may empty the folder (and
#: never a folder that holds something else).
MARKER = ".coursekit-site"
#: GitHub Actions names the repository here; the "Run it" page links to it.
REPO_ENV = "GITHUB_REPOSITORY"
DEFAULT_OUT = Path("build/site")

# The lab template, minus everything it would fetch from a CDN: require.js
# (only JavaScript outputs need it, and the course has none), MathJax (the
# course has no formulas; a "$" in a shell command stays a "$"), the
# jupyter-widgets manager and mermaid. The site's own bar goes around the
# cells.
_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}{{ resources.ck_head }}{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}{{ resources.ck_nav_top }}
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.ck_nav_bottom }}{{ super() }}
{% endblock body_footer %}
"""
_TEMPLATE_NAME = "coursekit_site.html.j2"
_NAV_TOP, _NAV_BOTTOM = "<!-- coursekit: nav top -->", "<!-- coursekit: nav bottom -->"
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$", re.M)
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")
_CHAPTER = re.compile(r"^(?P<number>\d+)")


@dataclass(frozen=True)
class SiteReport:
    """What ``build_site`` wrote."""

    out: Path
    pages: int  # HTML pages
    files: int  # every file, assets and openapi.json included
    bytes: int
    seconds: float

    def summary(self) -> str:
        size = self.bytes / 1_000_000
        return (
            f"{self.pages} pages ({self.files} files, {size:.1f} MB) written to "
            f"{self.out} in {self.seconds:.1f} s"
        )


def _title(notebook: dict, fallback: str) -> str:
    """The notebook's first markdown heading, without its #s."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        found = _HEADING.search(text)
        if found:
            return found["title"]
    return fallback


def _chapter(name: str) -> int:
    found = _CHAPTER.match(name)
    return int(found["number"]) if found else 0


def find_pages(root: Path) -> list[NotebookPage]:
    """The published notebooks, in course order: a chapter's lessons, then
    its exercise."""
    pages = []
    for folder, kind in PUBLISHED.items():
        for path in sorted((root / folder).glob("*.ipynb")):
            try:
                notebook = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise CourseError(
                    f"{path} is not a readable notebook ({error}); fix or remove it "
                    "and run `coursekit site` again."
                ) from None
            source = f"{folder}/{path.name}"
            pages.append(
                NotebookPage(
                    source=source,
                    href=f"{folder}/{path.stem}.html",
                    title=_title(notebook, path.stem),
                    chapter=_chapter(path.stem),
                    kind=kind,
                )
            )
    order = list(PUBLISHED.values())
    return sorted(pages, key=lambda p: (p.chapter, order.index(p.kind), p.source))


def _exporter():  # -> nbconvert.HTMLExporter, imported late: it is slow
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        template_file=_TEMPLATE_NAME,
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        # Belt and braces: nothing left in the template uses these.
        require_js_url="",
        mathjax_url="",
        jupyter_widgets_base_url="",
        widget_renderer_url="",
        embed_images=True,
    )


#: The lab template's style sheets, inlined in every page by nbconvert
#: (a quarter of a megabyte each time): one copy on the site instead.
_LAB_CSS = {
    "static/index.css": "jupyterlab.css",
    "static/theme-light.css": "theme-light.css",
}


def _share_lab_css(exporter: Any, out: Path) -> dict[str, str]:
    """Write the lab template's CSS into assets/; map each one's inline
    ``<style>`` (as nbconvert writes it) to the file's name."""
    environment = exporter.environment
    shared = {}
    for source, name in _LAB_CSS.items():
        css = environment.loader.get_source(environment, source)[0]
        (out / ASSETS / name).write_text(css, encoding="utf-8")
        # nbconvert's include_css, exactly; a page whose <style> differs
        # keeps it inline and still looks right.
        shared[f'<style type="text/css">\n{css}</style>'] = name
    return shared


def _write_notebook_pages(root: Path, out: Path, pages: list[NotebookPage]) -> None:
    import nbformat

    exporter = _exporter()
    shared = _share_lab_css(exporter, out)
    published = {page.source: page.href for page in pages}
    for number, page in enumerate(pages):
        previous = pages[number - 1] if number else None
        following = pages[number + 1] if number + 1 < len(pages) else None
        notebook = nbformat.read(root / page.source, as_version=4)
        resources = {
            # path: where embed_images finds a markdown image's file.
            "metadata": {"name": page.title, "path": str((root / page.source).parent)},
            "ck_head": head_links(page.href),
            # Placeholders: the bars' links are to pages already, and must
            # not be read as links in the notebook's text.
            "ck_nav_top": _NAV_TOP,
            "ck_nav_bottom": _NAV_BOTTOM,
        }
        body, _ = exporter.from_notebook_node(notebook, resources=resources)
        body = rewrite_links(
            body, source=page.source, published=published, page=page.href
        )
        up = "../" * page.href.count("/")
        for inline, name in shared.items():
            link = f'<link rel="stylesheet" href="{up}{ASSETS}/{name}">'
            body = body.replace(inline, link, 1)
        body = body.replace(_NAV_TOP, nav(page.href, previous, following), 1)
        body = body.replace(
            _NAV_BOTTOM, nav(page.href, previous, following, bottom=True), 1
        )
        target = out / page.href
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")


def _write_api_pages(out: Path) -> list[ApiPage]:
    from course_app.config import Settings
    from course_app.main import CHAPTER_TITLES, FIRST_CHAPTER, LAST_CHAPTER, create_app

    # Only the schema is wanted: the apps are built, never started. Their
    # settings are explicit (no Redis, a throwaway database and key), so
    # the environment of the machine building the site changes nothing.
    logging.getLogger("course_app").setLevel(logging.ERROR)
    apis = []
    with tempfile.TemporaryDirectory(prefix="coursekit-site-") as scratch:
        settings = Settings(
            database_url=f"sqlite:///{Path(scratch) / 'site.db'}",
            secret_key=secrets.token_urlsafe(32),
            redis_url=None,
        )
        for chapter in range(FIRST_CHAPTER, LAST_CHAPTER + 1):
            spec = create_app(upto=chapter, settings=settings).openapi()
            api = ApiPage(
                chapter=chapter,
                title=f"Chapter {chapter:02d} API: {CHAPTER_TITLES[chapter]}",
                href=f"api/ch{chapter:02d}/index.html",
            )
            folder = out / "api" / f"ch{chapter:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "openapi.json").write_text(
                json.dumps(spec, indent=2) + "\n", encoding="utf-8"
            )
            (folder / "index.html").write_text(api_page(api, spec), encoding="utf-8")
            apis.append(api)
    return apis


def _copy_assets(out: Path) -> None:
    folder = docs_assets.asset_folder()
    if folder is None:
        raise CourseError(
            "The Swagger UI files are missing: the fastapi-offline package is not "
            "installed. Install the course (`make lab`, or `pip install -e .`) "
            "and run `coursekit site` again."
        )
    assets = out / ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        if name not in docs_assets.CDN_FILES.values():
            raise AssertionError(f"{name} is no longer one of docs_assets' files")
        shutil.copyfile(folder / name, assets / name)
    (assets / "site.css").write_text(SITE_CSS, encoding="utf-8")


def _prepare(out: Path) -> None:
    """An empty ``out``: created, or emptied when it holds an earlier site."""
    if out.exists() and not out.is_dir():
        raise CourseError(f"{out} is a file; give --out a folder for the site.")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise CourseError(
                f"{out} already holds files that are not a course site; give --out "
                "an empty or new folder (the default is build/site)."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(
        "Written by `coursekit site`; it may empty this folder.\n", encoding="utf-8"
    )


def check_self_contained(out: Path) -> None:
    """Raise CourseError when a page of ``out`` would load from another host."""
    problems = []
    for page in sorted(out.rglob("*.html")):
        for url in external_resources(page.read_text(encoding="utf-8")):
            problems.append(f"{page.relative_to(out)}: {url}")
    if problems:
        raise CourseError(
            "The site would load files from other hosts, and then not work "
            "offline:\n  " + "\n  ".join(problems)
        )


def build_site(out: Path, *, root: Path = ROOT, repo: str | None = None) -> SiteReport:
    """Write the course's website into ``out`` and check it is self-contained.

    ``root`` is the course's repository (its ``notebooks/`` and
    ``exercises/`` are published); ``repo`` the GitHub ``owner/name`` that
    the "Run it" page's Binder link names (default: ``$GITHUB_REPOSITORY``,
    else a placeholder).
    """
    started = time.perf_counter()
    out = Path(out)
    repo = repo or os.environ.get(REPO_ENV) or None
    if repo is not None and not _REPO.fullmatch(repo):
        raise CourseError(
            f"{repo!r} is not a GitHub repository's owner/name (e.g. "
            "your-org/fastapi-notebook-course)."
        )
    pages = find_pages(root)
    if not pages:
        raise CourseError(
            f"No notebooks in {root}/notebooks or {root}/exercises: nothing to publish."
        )
    _prepare(out)
    _copy_assets(out)
    _write_notebook_pages(root, out, pages)
    apis = _write_api_pages(out)
    from course_app.main import CHAPTER_TITLES

    (out / "index.html").write_text(
        index_page(pages, apis, CHAPTER_TITLES), encoding="utf-8"
    )
    (out / "run.html").write_text(run_page(repo), encoding="utf-8")
    check_self_contained(out)
    files = [path for path in out.rglob("*") if path.is_file()]
    return SiteReport(
        out=out,
        pages=sum(1 for path in files if path.suffix == ".html"),
        files=len(files),
        bytes=sum(path.stat().st_size for path in files),
        seconds=time.perf_counter() - started,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``coursekit site``: build the website; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="coursekit site",
        description="Build the course as a static website: every lesson and "
        "exercise with its saved outputs, each chapter's API in Swagger UI, an "
        "index and a 'Run it' page. It loads nothing from other hosts.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"the folder to write (default: {DEFAULT_OUT}; emptied first when "
        "it holds an earlier site)",
    )
    parser.add_argument(
        "--repo",
        default=None,
        help="GitHub owner/name for the Binder link on the 'Run it' page "
        f"(default: ${REPO_ENV}, else the placeholder OWNER/REPO)",
    )
    args = parser.parse_args(argv)
    try:
        report = build_site(args.out, repo=args.repo)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"error: could not write the site to {args.out}: {error}", file=sys.stderr
        )
        return 1
    print(f"==> {report.summary()}; open {report.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
