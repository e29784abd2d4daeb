"""The course's website in a real browser, served over real HTTP.

``build_site`` writes the site into a temporary folder; Python's
``http.server`` serves it on 127.0.0.1 (a real socket, in a thread), and
Chromium opens every page, starting from the index and following every
link on the site. Every request is recorded: none may go to another origin
(the site works offline), none may answer 4xx/5xx, no page may log a
console error or raise, and every internal link (and the place it points
at, ``#id``) must exist. Lesson pages must show their code cells and saved
outputs; each chapter's API page must draw Swagger UI's list of routes.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

from course_app.main import LAST_CHAPTER
from coursekit.site import build_site
from tests.browser.plugin import PageLog

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site's folder; keeps each request's path and status."""

    answered: list[tuple[int, str]]  # set on a subclass per server

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.answered.append((int(code) if str(code).isdigit() else 0, self.path))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # pytest shows what matters; a line per request is noise


@dataclass
class Site:
    folder: Path
    origin: str  # http://127.0.0.1:<port>
    answered: list[tuple[int, str]]  # (status, path) of every request served

    def errors(self) -> list[str]:
        """The requests the server answered 4xx/5xx, however they were made."""
        return [f"{code} {path}" for code, path in self.answered if code >= 400]

    def url(self, path: str) -> str:
        return f"{self.origin}/{path}"

    def pages(self) -> list[str]:
        return sorted(
            p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*.html")
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site") / "site"
    build_site(folder, repo="your-org/fastapi-notebook-course")
    answered: list[tuple[int, str]] = []
    recording = type("Handler", (_RecordingHandler,), {"answered": answered})
    handler = partial(recording, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield Site(folder, f"http://{host}:{port}", answered)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


@dataclass
class Watch:
    """What the browser was answered, and what it logged, for one test."""

    log: PageLog
    bad: list[str]

    def problems(self, origin: str) -> dict[str, list[str]]:
        found = {
            "other origins": self.log.elsewhere(origin),
            "4xx/5xx answers": self.bad,
            "failed requests": real_failures(self.log.failed),
            "page errors": self.log.errors,
            "console errors": [m for m in self.log.console if m.startswith("error:")],
        }
        return {what: lines for what, lines in found.items() if lines}


@pytest.fixture
def watch(page: Page, page_log: PageLog) -> Watch:
    bad: list[str] = []

    def answered(response: Response) -> None:
        if response.status >= 400:
            bad.append(f"{response.status} {response.url}")

    page.context.on("response", answered)
    return Watch(page_log, bad)


#: Every page is left only once the network is idle: its favicon, asked
#: for after "load", would otherwise be cut off (a failed request) by the
#: next page.
LOADED = "networkidle"


def real_failures(failed: list[str]) -> list[str]:
    """The failed requests, less a favicon the next navigation cut off.

    Chromium asks for the icon after "load", at times after the network
    was idle too (seen on a busy machine): leaving the page then aborts it,
    which says nothing of the site. Any other failure of it still counts,
    and ``test_the_favicon_is_served`` fetches it.
    """
    return [
        line
        for line in failed
        if not (line.endswith(": net::ERR_ABORTED") and "/assets/favicon.png" in line)
    ]


def _links(page: Page) -> list[str]:
    """Every link's address on the page, resolved by the browser."""
    return page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")


def _has_id(page: Page, fragment: str) -> bool:
    """Whether ``#fragment`` names a place on the page, as browsers find it:
    the fragment as written, else percent-decoded (nbconvert's heading ids
    are percent-encoded themselves)."""
    script = "ids => ids.some(id => document.getElementById(id) !== null)"
    return page.evaluate(script, [fragment, unquote(fragment)])


def test_every_page_is_linked_loads_and_asks_only_its_own_server(
    page: Page, watch: Watch, site: Site
) -> None:
    # From the index, through every link on the site: every page is reached.
    seen: dict[str, int] = {}
    wanted: dict[str, set[str]] = {}  # page URL -> the #ids links point at
    linked_from: dict[str, str] = {}
    queue = [site.url("index.html")]
    broken: list[str] = []
    while queue:
        address = queue.pop(0)
        if address in seen:
            continue
        if not address.endswith(".html"):
            # A file, not a page (Swagger UI links its openapi.json): fetched,
            # not opened, as a page without <link rel=icon> makes Chromium
            # ask for /favicon.ico, which no site has to have.
            fetched = page.request.get(address)
            seen[address] = fetched.status
            if not fetched.ok:
                broken.append(f"{address} (linked from {linked_from.get(address)})")
            continue
        response = page.goto(address, wait_until=LOADED)
        seen[address] = response.status if response else 0
        if response is None or not response.ok:
            broken.append(f"{address} (linked from {linked_from.get(address)})")
            continue
        if "/api/" in address:
            page.locator(".opblock").first.wait_for()
        for link in _links(page):
            target, fragment = urldefrag(link)
            if urlsplit(target)[:2] != urlsplit(site.origin)[:2]:
                continue  # a link out (the docs, Binder): followed by readers only
            # Swagger UI's deep links (#/users/create_user) are its own
            # routes, not ids in the page.
            if fragment and not fragment.startswith("/"):
                wanted.setdefault(target, set()).add(fragment)
            if target not in seen and target not in queue:
                linked_from.setdefault(target, address)
                queue.append(target)
        for fragment in wanted.pop(address, set()):  # links to this page
            if not _has_id(page, fragment):
                broken.append(f"{address}#{fragment}: no such id")
    # Places in pages opened before the link to them was found.
    for address, fragments in wanted.items():
        page.goto(address, wait_until=LOADED)
        for fragment in fragments:
            if not _has_id(page, fragment):
                broken.append(f"{address}#{fragment}: no such id")
    assert broken == [], "broken internal links"
    reached = {urlsplit(url).path.lstrip("/") for url in seen}
    assert set(site.pages()) <= reached, "pages that no link leads to"
    assert site.errors() == []
    assert watch.problems(site.origin) == {}
    assert len(watch.log.requests) >= len(site.pages())


def test_lessons_show_their_code_cells_and_outputs(
    page: Page, watch: Watch, site: Site
) -> None:
    lessons = [p for p in site.pages() if p.startswith("notebooks/")]
    exercises = [p for p in site.pages() if p.startswith("exercises/")]
    assert lessons and exercises
    for path in lessons + exercises:
        page.goto(site.url(path), wait_until=LOADED)
        code = page.locator(".jp-CodeCell")
        assert code.count() > 0, path
        assert code.first.is_visible(), path
        assert page.locator("nav.ck-nav").count() == 2, path
        # JupyterLab's theme, from the site's one shared copy of its CSS.
        color = "getComputedStyle(document.body).getPropertyValue('--jp-layout-color0')"
        assert page.evaluate(color).strip(), f"{path}: no JupyterLab theme"
        if path in lessons:
            outputs = page.locator(".jp-OutputArea-output")
            assert outputs.count() > 0, f"{path}: no saved outputs shown"
            assert outputs.first.inner_text().strip(), path
    assert site.errors() == []
    assert watch.problems(site.origin) == {}


def test_each_chapters_api_page_lists_its_routes(
    page: Page, watch: Watch, site: Site
) -> None:
    for chapter in range(1, LAST_CHAPTER + 1):
        folder = f"api/ch{chapter:02d}"
        spec = json.loads((site.folder / folder / "openapi.json").read_text())
        operations = sum(len(methods) for methods in spec["paths"].values())
        page.goto(site.url(f"{folder}/index.html"), wait_until=LOADED)
        blocks = page.locator(".opblock")
        blocks.first.wait_for()
        assert blocks.count() == operations, folder
        assert page.locator(".info .title").first.inner_text().startswith("Course App")
        # Opened, an operation shows its parameters but offers no "Try it
        # out": there is no API behind a static site to try.
        blocks.first.locator(".opblock-summary").click()
        blocks.first.locator(".opblock-body").wait_for()
        assert page.get_by_role("button", name="Try it out").count() == 0
    assert site.errors() == []
    assert watch.problems(site.origin) == {}


def test_api_pages_work_opened_as_files_too(
    page: Page, page_log: PageLog, site: Site
) -> None:
    # Double-clicked, from file://, where a browser refuses to fetch
    # openapi.json: the page uses the copy of the schema it holds.
    for chapter in (1, LAST_CHAPTER):
        folder = site.folder / "api" / f"ch{chapter:02d}"
        spec = json.loads((folder / "openapi.json").read_text())
        page.goto((folder / "index.html").as_uri(), wait_until=LOADED)
        blocks = page.locator(".opblock")
        blocks.first.wait_for()
        assert blocks.count() == sum(len(m) for m in spec["paths"].values())
    assert [r for r in page_log.requests if not r.startswith("GET file://")] == []
    assert page_log.errors == [] and real_failures(page_log.failed) == []


def test_the_favicon_is_served(page: Page, site: Site) -> None:
    # Every page names it; the other tests forgive the browser's cutting
    # its request off when they move on (``real_failures``).
    answer = page.request.get(site.url("assets/favicon.png"))
    assert answer.status == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.body()[:8] == b"\x89PNG\r\n\x1a\n"
