"""``coursekit site``: the course as a website, built once for the module.

Checked on the files written: a page per lesson and exercise and none for
solutions, the index and the bars in course order, links between notebooks
rewritten and none left broken, each chapter's API schema, and no page that
would load anything from another host. tests/browser/test_site_in_browser.py
opens the same site in Chromium.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from course_app.main import LAST_CHAPTER
from coursekit.build import CODE_BEGIN, CODE_END
from coursekit.site import MARKER, ROOT, SiteReport, build_site, find_pages
from coursekit.site_links import external_resources, rewrite_links

COURSEKIT = Path(sys.executable).with_name("coursekit")
LESSONS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.ipynb"))
EXERCISES = sorted(path.stem for path in (ROOT / "exercises").glob("*.ipynb"))
_HREF = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"', re.S)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteReport]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("GITHUB_REPOSITORY", raising=False)
        yield build_site(tmp_path_factory.mktemp("site") / "site")


@pytest.fixture(scope="module")
def site(built: SiteReport) -> Path:
    return built.out


def html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def text_of(page: str) -> str:
    """What a reader sees: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_page_for_every_lesson_and_exercise(site: Path, built: SiteReport) -> None:
    assert LESSONS and EXERCISES
    for stem in LESSONS:
        assert (site / "notebooks" / f"{stem}.html").is_file(), stem
    for stem in EXERCISES:
        assert (site / "exercises" / f"{stem}.html").is_file(), stem
    # notebooks, exercises, a Swagger UI page per chapter, index, Run it
    expected = len(LESSONS) + len(EXERCISES) + LAST_CHAPTER + 2
    assert built.pages == expected == len(html_files(site))
    assert built.bytes > 0 and built.files > built.pages
    assert (site / MARKER).is_file()


def test_no_solution_is_published(site: Path) -> None:
    assert not (site / "solutions").exists()
    assert not list(site.rglob("*.ipynb")) and not list(site.rglob("*.py"))
    # The code between the solution markers that no lesson or exercise
    # shows: none of it may appear in any page's text.
    public = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("notebooks", "exercises")
        for path in (ROOT / folder).glob("*.ipynb")
    )
    public_text = json.dumps(public)  # as escaped in the notebooks' JSON
    secret: set[str] = set()
    for path in (ROOT / "solutions").glob("*.ipynb"):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                if CODE_BEGIN in line:
                    inside = True
                elif CODE_END in line:
                    inside = False
                elif inside and len(line.strip()) >= 25:
                    escaped = json.dumps(line.strip())[1:-1]
                    if escaped not in public and escaped not in public_text:
                        secret.add(line.strip())
    assert secret, "the solutions have solution code (the check checks something)"
    pages = "\n".join(text_of(p.read_text(encoding="utf-8")) for p in html_files(site))
    leaked = sorted(line for line in secret if line in pages)
    assert leaked == [], "solution code published"
    assert "BEGIN SOLUTION" not in pages


def test_the_index_lists_every_page_in_course_order(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    pages = find_pages(ROOT)
    positions = [index.index(f'href="{page.href}"') for page in pages]
    assert positions == sorted(positions)
    for page in pages:
        assert html.escape(page.title) in index
    assert pages[0].title == "00 · Start here"
    # Chapter 1: its lesson, then its exercise.
    assert [p.source for p in pages[1:3]] == [
        "notebooks/01_hello_world.ipynb",
        "exercises/01_hello_world.ipynb",
    ]
    for chapter in range(1, LAST_CHAPTER + 1):
        assert f'href="api/ch{chapter:02d}/index.html"' in index
    assert 'href="run.html"' in index


def test_next_and_previous_walk_the_course(site: Path) -> None:
    pages = find_pages(ROOT)
    for number, page in enumerate(pages):
        text = (site / page.href).read_text(encoding="utf-8")
        bars = re.findall(r'<nav class="ck-nav[^"]*".*?</nav>', text, re.S)
        assert len(bars) == 2, page.href  # above and below the cells
        for bar in bars:
            links = dict(re.findall(r'href="([^"]+)" rel="(prev|next)"', bar))
            rel = {value: key for key, value in links.items()}
            base = Path(page.href).parent
            if number:
                target = (site / base / rel["prev"]).resolve()
                assert target == (site / pages[number - 1].href).resolve()
            else:
                assert "prev" not in rel
            if number + 1 < len(pages):
                target = (site / base / rel["next"]).resolve()
                assert target == (site / pages[number + 1].href).resolve()
            else:
                assert "next" not in rel


def test_links_between_notebooks_point_at_pages(site: Path) -> None:
    start = (site / "notebooks" / "00_start_here.html").read_text(encoding="utf-8")
    assert 'href="01_hello_world.html"' in start
    for page in html_files(site):
        for href in _HREF.findall(page.read_text(encoding="utf-8")):
            assert ".ipynb" not in urlsplit(href).path, (page, href)


def test_no_internal_link_is_broken(site: Path) -> None:
    checked = 0
    for page in html_files(site):
        for href in _HREF.findall(page.read_text(encoding="utf-8")):
            parts = urlsplit(html.unescape(href))
            if parts.scheme or parts.netloc or not parts.path:
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), f"{page.relative_to(site)} links to {href}"
            assert site.resolve() in target.parents
            checked += 1
    assert checked > 100


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    loaded = {
        str(page.relative_to(site)): external_resources(page.read_text("utf-8"))
        for page in html_files(site)
    }
    assert {page: urls for page, urls in loaded.items() if urls} == {}
    for css in site.rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", css.read_text("utf-8"))


def test_the_check_finds_what_nbconvert_loads_by_default() -> None:
    # The plain lab template, as nbconvert ships it: require.js and MathJax
    # from cdnjs. The same check must see both.
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_filename(
        str(ROOT / "notebooks" / "00_start_here.ipynb")
    )
    found = external_resources(body)
    assert any("require.min.js" in url for url in found), found
    assert any("mathjax" in url for url in found), found
    page = (
        '<link rel="stylesheet" href="//cdn.example/x.css">'
        '<img src="https://example.org/a.png"><style>@import "https://f.example/c";'
        "</style><script>import('https://esm.example/m.js')</script>"
        '<a href="https://fastapi.tiangolo.com/">docs</a>'
        '<script type="application/json">{"url": "https://data.example/"}</script>'
    )
    assert external_resources(page) == [
        "//cdn.example/x.css",
        "https://example.org/a.png",
        "https://f.example/c",
        "https://esm.example/m.js",
    ]


def test_links_to_unpublished_files_become_text() -> None:
    page = (
        '<a href="../solutions/01_hello_world.ipynb">the solution</a> '
        '<a href="../exercises/02_crud.ipynb#part-2">exercise 2</a> '
        '<a href="../course_app/main.py">main.py</a> '
        '<a href="#here">here</a> <a href="https://example.org/x.ipynb">elsewhere</a>'
    )
    published = {
        "notebooks/01_hello_world.ipynb": "notebooks/01_hello_world.html",
        "exercises/02_crud.ipynb": "exercises/02_crud.html",
    }
    done = rewrite_links(
        page,
        source="notebooks/01_hello_world.ipynb",
        published=published,
        page="notebooks/01_hello_world.html",
    )
    assert '<a href="../exercises/02_crud.html#part-2">exercise 2</a>' in done
    assert '<a href="#here">here</a>' in done
    assert '<a href="https://example.org/x.ipynb">elsewhere</a>' in done
    assert "solutions/01_hello_world.ipynb in the course" in text_of(done)
    assert "course_app/main.py in the course" in text_of(done)
    assert "solutions" not in "".join(_HREF.findall(done))
    assert ".py" not in "".join(_HREF.findall(done))


def test_a_course_with_links_to_solutions_and_code(tmp_path: Path) -> None:
    # A small course of its own, built whole: its lesson links to an
    # exercise, a solution and a module.
    root = tmp_path / "course"
    for folder in ("notebooks", "exercises", "solutions"):
        (root / folder).mkdir(parents=True)
    lesson = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "lesson",
                "metadata": {},
                "source": "# 01 · A lesson\n\nTry [the exercise]"
                "(../exercises/01_try.ipynb), or peek at [the solution]"
                "(../solutions/01_try.ipynb) and [the code](../course_app/main.py).",
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    exercise = {**lesson, "cells": [{**lesson["cells"][0], "source": "# 01 · Try"}]}
    (root / "notebooks" / "01_lesson.ipynb").write_text(json.dumps(lesson))
    (root / "exercises" / "01_try.ipynb").write_text(json.dumps(exercise))
    (root / "solutions" / "01_try.ipynb").write_text(json.dumps(exercise))
    report = build_site(tmp_path / "site", root=root, repo="your-org/course")
    page = (report.out / "notebooks" / "01_lesson.html").read_text(encoding="utf-8")
    assert '<a href="../exercises/01_try.html">the exercise</a>' in page
    assert "the solution" in page and "solutions/01_try.ipynb" not in _HREF.findall(
        page
    )
    assert not any("solutions" in href or ".py" in href for href in _HREF.findall(page))
    assert not (report.out / "solutions").exists()
    run = (report.out / "run.html").read_text(encoding="utf-8")
    assert "https://mybinder.org/v2/gh/your-org/course/HEAD?urlpath=" in run


def test_each_chapter_has_its_schema_and_swagger_ui(site: Path) -> None:
    from course_app.config import Settings
    from course_app.main import create_app

    settings = Settings(database_url="sqlite://", secret_key="k" * 40)
    for chapter in range(1, LAST_CHAPTER + 1):
        folder = site / "api" / f"ch{chapter:02d}"
        spec = json.loads((folder / "openapi.json").read_text(encoding="utf-8"))
        expected = create_app(upto=chapter, settings=settings).openapi()
        assert spec["paths"].keys() == expected["paths"].keys(), chapter
        page = (folder / "index.html").read_text(encoding="utf-8")
        assert '{url: "openapi.json"}' in page  # fetched, when over HTTP
        inline = re.search(
            r'<script type="application/json" id="ck-openapi">(.*?)</script>',
            page,
            re.S,
        )
        assert inline and json.loads(inline[1]) == spec  # for file:// pages
        assert 'src="../../assets/swagger-ui-bundle.js"' in page
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png", "site.css"):
        assert (site / "assets" / name).stat().st_size > 0
    # Shared: one copy of Swagger UI for every chapter.
    assert len(list(site.rglob("swagger-ui-bundle.js"))) == 1


def test_run_it_page(site: Path) -> None:
    run = (site / "run.html").read_text(encoding="utf-8")
    assert "make lab" in run
    binder = (
        "https://mybinder.org/v2/gh/OWNER/REPO/HEAD?urlpath=lab/tree/notebooks/"
        "00_start_here.ipynb"
    )
    assert f'<a href="{binder}">' in run
    assert "Teaching on JupyterHub" in run
    assert "deploy/jupyterhub/nbgitpuller_link.py" in run


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COURSEKIT), "site", *args], capture_output=True, text=True, timeout=600
    )


def test_the_command_builds_and_rebuilds(tmp_path: Path) -> None:
    out = tmp_path / "site"
    for _ in range(2):  # the second run replaces the first site
        result = run_cli("--out", str(out))
        assert result.returncode == 0, result.stderr
        assert "pages (" in result.stdout and str(out) in result.stdout
    assert (out / "index.html").is_file()


def test_the_command_refuses_a_folder_that_is_no_site(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli("--out", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "not a course site" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    result = run_cli("--out", str(tmp_path / "x"), "--repo", "not a repo")
    assert result.returncode == 1 and "owner/name" in result.stderr
    assert "Traceback" not in result.stderr


def test_pages_share_one_copy_of_jupyterlabs_css(site: Path) -> None:
    for page in find_pages(ROOT):
        text = (site / page.href).read_text(encoding="utf-8")
        assert 'href="../assets/jupyterlab.css"' in text, page.href
        assert 'href="../assets/theme-light.css"' in text, page.href
        assert "--jp-layout-color0:" not in text, f"{page.href}: CSS inlined"
    assert "--jp-layout-color0:" in (site / "assets" / "theme-light.css").read_text()
