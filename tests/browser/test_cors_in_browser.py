"""Chapter 08's CORS in a real browser: what a page of another origin may read.

The API is `create_app(upto=8)`, with `cors_origins` naming the origin of a
second small server, on another port, whose HTML page `fetch`es the API
with a bearer token (a request that needs a preflight). Chromium runs the
page's script: from the allowed origin it reads the JSON and the
`X-Request-ID` header (exposed by the API); from a third server, an origin
not in the list, the same script's `fetch` rejects, as browsers do when
CORS refuses, though the API itself answered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from course_app.config import Settings
from course_app.main import create_app
from course_app.request_id import valid_request_id
from coursekit.serve import LiveServer, serve
from tests.browser.plugin import PageLog

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

#: The page: it reads the API's address and a token from its URL's
#: fragment, asks the API who the token belongs to, and writes what its
#: script could read (or the error `fetch` rejected with) into #result.
PAGE = """\
<!doctype html>
<html><head><meta charset="utf-8"><title>front end</title></head>
<body><pre id="result">waiting</pre>
<script>
const { api, token } = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const result = document.getElementById("result");
fetch(api + "/users/me", { headers: { Authorization: "Bearer " + token } })
  .then(async (response) => {
    const body = await response.json();
    result.textContent = JSON.stringify({
      ok: true,
      status: response.status,
      body,
      requestId: response.headers.get("X-Request-ID"),
    });
  })
  .catch((error) => {
    result.textContent = JSON.stringify({ ok: false, error: String(error) });
  })
  .finally(() => result.setAttribute("data-done", "yes"));
</script>
</body></html>
"""
USER = {"name": "Ada Lovelace", "email": "ada@example.com", "password": "analytical-1"}


async def front_end(request: Any) -> HTMLResponse:
    return HTMLResponse(PAGE)


def page_server(name: str) -> LiveServer:
    """A server of the page, on a port (an origin) of its own."""
    app = Starlette(routes=[Route("/", front_end)])
    return serve(app, name=name, show=False)


@dataclass
class Sites:
    server: LiveServer  # the API's
    api: str
    token: str
    allowed: str  # the page's URL on the origin the API lists
    other: str  # the same page on an origin it does not


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    folder = tmp_path_factory.mktemp("cors")
    with page_server("cors-page") as allowed, page_server("cors-other") as other:
        settings = Settings(
            database_url=f"sqlite:///{folder / 'app.db'}",
            secret_key="browser-test-" + "k" * 32,
            cors_origins=[allowed.url],  # http://127.0.0.1:<port>
            outbox_dir=folder / "outbox",
        )
        with serve(create_app(upto=8, settings=settings), name="cors-api") as api:
            assert httpx.post(api.url + "/users/", json=USER).status_code == 201
            login = {"username": USER["email"], "password": USER["password"]}
            token = httpx.post(api.url + "/token", data=login).json()["access_token"]
            yield Sites(api, api.url, token, allowed.url + "/", other.url + "/")


def run_page(page: Page, url: str, sites: Sites) -> dict[str, Any]:
    """Open the page at `url` and return what its script could read."""
    config = json.dumps({"api": sites.api, "token": sites.token})
    page.goto(url + "#" + quote(config))
    page.wait_for_selector("#result[data-done]")
    return json.loads(page.inner_text("#result"))


def test_the_allowed_origin_reads_the_json_and_the_request_id(
    page: Page, page_log: PageLog, sites: Sites
) -> None:
    got = run_page(page, sites.allowed, sites)
    assert got["ok"], (got, page_log.text())
    assert got["status"] == 200
    assert got["body"]["email"] == USER["email"]
    # Readable only because the API lists it in Access-Control-Expose-Headers.
    assert got["requestId"] and valid_request_id(got["requestId"]), got
    assert re.fullmatch(r"[0-9a-f]{32}", got["requestId"]), got
    # The token in Authorization made the browser ask first (Playwright
    # does not report preflights as the page's requests; the API's log has it).
    assert '"OPTIONS /users/me HTTP/1.1" 200' in sites.server.logs()
    assert not page_log.failed, page_log.text()


def test_another_origin_gets_a_cors_failure(
    page: Page, page_log: PageLog, sites: Sites
) -> None:
    got = run_page(page, sites.other, sites)
    assert not got["ok"], got
    assert got["error"].startswith("TypeError"), got  # "Failed to fetch"
    # The browser says why, in the console, and the API's data never
    # reached the script.
    console = "\n".join(page_log.console)
    assert "CORS policy" in console, page_log.text()
    assert "Ada" not in json.dumps(got)


def test_the_api_itself_answers_a_request_without_origin(sites: Sites) -> None:
    # CORS is the browser's rule: httpx, curl or a server read the answer.
    me = httpx.get(
        sites.api + "/users/me", headers={"Authorization": f"Bearer {sites.token}"}
    )
    assert me.status_code == 200 and me.json()["name"] == USER["name"]
