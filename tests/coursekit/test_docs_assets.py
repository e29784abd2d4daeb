"""/docs and /redoc work without internet: serve() hands out their assets."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse, StreamingResponse

from coursekit.docs_assets import ASSET_PATH, CDN_FILES, NOT_LOADED
from coursekit.serve import serve

EXTERNAL = re.compile(r"https?://")


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/page", response_class=HTMLResponse)
    def page() -> str:
        # A learner's own HTML that happens to name the CDN stays as it is.
        return '<a href="https://example.com/x">x</a>'

    @app.get("/stream")
    def stream() -> StreamingResponse:
        chunks = (b"<p>%d</p>" % i for i in range(3))
        return StreamingResponse(chunks, media_type="text/html")

    return app


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_everything_from_the_server(page: str) -> None:
    app = _app()
    with serve(app, name="offline-docs", show=False) as server:
        assert server.app is app  # the learner's app, not the wrapper
        html = httpx.get(server.url + page)
        assert html.status_code == 200
        assert int(html.headers["content-length"]) == len(html.content)
        assert not EXTERNAL.search(html.text)
        assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assets = [a for a in assets if not a.startswith("data:")]
        assert assets and all(a.startswith(ASSET_PATH) for a in assets)
        for asset in assets:
            loaded = httpx.get(server.url + asset)
            assert loaded.status_code == 200
            assert len(loaded.content) > 1000  # the real file, not a stub
            assert loaded.headers["content-type"].split(";")[0] in (
                "text/javascript",
                "text/css",
                "image/png",
            )


def test_every_cdn_file_fastapi_uses_is_replaced() -> None:
    from fastapi.openapi import docs

    html = docs.get_swagger_ui_html(openapi_url="/o", title="t").body.decode()
    html += docs.get_redoc_html(openapi_url="/o", title="t").body.decode()
    for url in set(re.findall(r"https://[^\"']+", html)):
        assert url in CDN_FILES or url in NOT_LOADED, url


def test_the_app_itself_is_untouched() -> None:
    with serve(_app(), name="offline-docs", show=False) as server:
        assert httpx.get(server.url + "/items/3").json() == {"item_id": 3}
        assert httpx.get(server.url + "/page").text == (
            '<a href="https://example.com/x">x</a>'
        )
        assert httpx.get(server.url + "/stream").text == "<p>0</p><p>1</p><p>2</p>"
        assert httpx.get(server.url + ASSET_PATH + "nope.js").status_code == 404
        assert httpx.post(server.url + ASSET_PATH + "swagger-ui.css").status_code == 404


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/api-docs"])
def test_an_app_that_compresses_still_gets_local_docs(page: str) -> None:
    # Chapter 06 adds GZipMiddleware: a compressed page cannot be rewritten,
    # so the docs pages must be asked of the app uncompressed.
    app = FastAPI(docs_url="/api-docs") if page == "/api-docs" else FastAPI()
    app.add_middleware(GZipMiddleware, minimum_size=10)

    @app.get("/big")
    def big() -> dict[str, str]:
        return {"text": "x" * 2000}

    with serve(app, name="offline-docs-gzip", show=False) as server:
        html = httpx.get(server.url + page, headers={"accept-encoding": "gzip"})
        assert html.status_code == 200
        assert not EXTERNAL.search(html.text)
        assert ASSET_PATH in html.text
        # Everything else stays compressed.
        other = httpx.get(server.url + "/big", headers={"accept-encoding": "gzip"})
        assert other.headers["content-encoding"] == "gzip"


def test_redoc_asks_for_nothing_on_the_internet() -> None:
    # ReDoc's script shows Redocly's logo from their CDN; served from here,
    # it names no remote image (only documentation links in strings).
    with serve(_app(), name="offline-docs", show=False) as server:
        script = httpx.get(server.url + ASSET_PATH + "redoc.standalone.js").text
    assert "https://cdn.redoc.ly" not in script
    assert len(script) > 100_000
