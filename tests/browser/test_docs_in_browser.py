"""Swagger UI and ReDoc in a real browser, as a learner opens them.

The app is served the way a lesson serves it: ``serve(app)`` in a cell of a
real kernel. Each test runs three ways:

- ``local-ch1``: chapter 1's app, kernel on this machine, the link it prints;
- ``local-ch6``: the whole course app (chapter 6 compresses responses);
- ``hub-ch6``: the same in a kernel started by a Jupyter server set up as
  JupyterHub runs it (``/user/ada/``), opened through jupyter-server-proxy.

Everything is checked in the rendered page, not in the HTML the server
sent, and no page may ask anything of another origin: the pages work
without internet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.browser.plugin import PageLog
from tests.jupyter_servers import Kernel, hub_server, local_kernel

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.slow

SERVE_CELL = """\
import json
from course_app.config import Settings
from course_app.main import create_app
from coursekit.serve import serve

app = create_app(upto={chapter}, settings=Settings(database_url={database!r}))
server = serve(app)
links = {{"url": server.url, "docs": server.docs_url, "redoc": server.redoc_url}}
print(json.dumps(links))
"""
WAYS = {"local-ch1": ("local", 1), "local-ch6": ("local", 6), "hub-ch6": ("hub", 6)}


@dataclass
class Served:
    """An app served in a kernel, and how a browser reaches it."""

    chapter: int
    app_url: str  # where this test process reaches the app directly
    origin: str  # the origin the browser talks to
    docs: str  # absolute URLs of the pages, as the learner's link gives them
    redoc: str
    # Visited first: a hub's login leaves a cookie that the proxy checks.
    login: str | None = None

    def spec(self) -> dict[str, Any]:
        return httpx.get(self.app_url + "/openapi.json").json()


def _serve_in(kernel: Kernel, chapter: int, folder: Path) -> dict[str, str]:
    database = f"sqlite:///{folder / 'course.db'}"
    printed, _ = kernel.run(SERVE_CELL.format(chapter=chapter, database=database))
    return json.loads(printed)


@pytest.fixture(scope="module", params=list(WAYS))
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    where, chapter = WAYS[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    if where == "local":
        with local_kernel() as kernel:
            links = _serve_in(kernel, chapter, folder)
            yield Served(
                chapter, links["url"], links["url"], links["docs"], links["redoc"]
            )
        return
    with hub_server(folder / "hub") as jupyter, jupyter.kernel() as kernel:
        links = _serve_in(kernel, chapter, folder)
        # The cell's links are paths on the Jupyter server: /user/ada/proxy/...
        assert links["docs"].startswith("/user/ada/proxy/"), links
        yield Served(
            chapter,
            app_url=links["url"],
            origin=jupyter.origin,
            docs=jupyter.url(links["docs"]),
            redoc=jupyter.url(links["redoc"]),
            login=jupyter.url(f"api/status?token={jupyter.token}"),
        )


@pytest.fixture
def page(page: Page, served: Served) -> Page:
    # A cookie, not an Authorization header: Swagger UI sends its own
    # "Authorization: Bearer" once logged in, and a header set for the whole
    # browser would replace it.
    if served.login:
        page.goto(served.login)
    return page


def operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        for method in methods
    }


def assert_self_contained(log: PageLog, origin: str) -> None:
    assert log.elsewhere(origin) == [], "the page asked another origin"
    assert log.failed == [], "requests failed"
    assert log.errors == [], "the page raised"


def open_operation(page: Page, method: str, path: str) -> Locator:
    operation = page.locator(
        f".opblock-{method.lower()}", has=page.locator(f'[data-path="{path}"]')
    )
    operation.locator(".opblock-summary").click()
    return operation


def execute(operation: Locator, **params: str) -> tuple[str, str, Any]:
    """Try it out: fill in the parameters, Execute; the URL, status, body."""
    operation.get_by_role("button", name="Try it out").click()
    for name, value in params.items():
        operation.locator(f'tr[data-param-name="{name}"] input').fill(value)
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table .response")
    body = live.locator(".response-col_description pre.microlight").first
    body.wait_for()
    url = operation.locator(".request-url pre").inner_text()
    status = live.locator(".response-col_status").first.inner_text()
    return url, status.strip(), json.loads(body.inner_text())


def test_swagger_ui_shows_every_operation_of_the_chapter(
    page: Page, page_log: PageLog, served: Served
) -> None:
    page.goto(served.docs)
    page.locator(".opblock").first.wait_for()
    shown = {
        (
            block.locator(".opblock-summary-method").inner_text().strip(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.locator(".opblock").all()
    }
    assert shown == operations(served.spec())
    assert "Course App" in page.locator(".information-container .title").inner_text()
    assert_self_contained(page_log, served.origin)


def test_try_it_out_on_an_item_returns_its_json(
    page: Page, page_log: PageLog, served: Served
) -> None:
    page.goto(served.docs)
    operation = open_operation(page, "GET", "/items/{item_id}")
    url, status, body = execute(operation, item_id="42", q="hello")
    assert status == "200"
    assert body == {"item_id": 42, "q": "hello"}
    # The request went where the page came from: through the proxy on a hub.
    assert url == served.docs.removesuffix("/docs") + "/items/42?q=hello"
    assert_self_contained(page_log, served.origin)


def test_redoc_documents_every_operation(
    page: Page, page_log: PageLog, served: Served
) -> None:
    page.goto(served.redoc)
    page.locator("[data-section-id^='operation/']").first.wait_for()
    sections = page.eval_on_selector_all(
        "[data-section-id^='operation/']", "all => all.map(e => e.dataset.sectionId)"
    )
    spec = served.spec()
    expected = {
        operation["operationId"]
        for methods in spec["paths"].values()
        for operation in methods.values()
    }
    assert {section.removeprefix("operation/") for section in sections} == expected
    assert spec["info"]["title"] in page.locator("h1").first.inner_text()
    assert_self_contained(page_log, served.origin)


@pytest.mark.parametrize(
    "served", [way for way, (_, ch) in WAYS.items() if ch >= 5], indirect=True
)
def test_authorize_then_call_a_protected_route(
    page: Page, page_log: PageLog, served: Served
) -> None:
    # Chapter 05's lesson: create a user, log in with Swagger UI's Authorize
    # dialog (its tokenUrl is relative, so it goes through the proxy too),
    # then call /users/me with the token it got.
    email, password = "ada@example.com", "correct horse battery"
    created = httpx.post(
        served.app_url + "/users/",
        json={"name": "Ada", "email": email, "password": password},
    )
    assert created.status_code == 201, created.text

    page.goto(served.docs)
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    dialog.locator("#oauth_username").fill(email)  # OAuth2 calls it username
    dialog.locator("#oauth_password").fill(password)
    # Its buttons' accessible names are aria-labels; their text is what shows.
    dialog.locator("button.modal-btn", has_text="Authorize").click()
    dialog.locator("button.modal-btn", has_text="Logout").wait_for()  # logged in
    dialog.locator("button.modal-btn", has_text="Close").click()

    operation = open_operation(page, "GET", "/users/me")
    _, status, body = execute(operation)
    assert status == "200"
    assert body["email"] == email
    assert "password" not in json.dumps(body)
    assert_self_contained(page_log, served.origin)
