"""serve() behind a real jupyter-server-proxy, as under JupyterHub or Binder.

A Jupyter server runs as a subprocess with the hub-style base URL
``/user/ada/``; the course app runs in this process with ``serve()``. Every
request goes the way a learner's browser goes: to the Jupyter server's
``/user/ada/proxy/{port}/...``, which strips that prefix and forwards to the
app. URLs found in the docs pages are resolved against the page's own URL,
as a browser does, and fetched through the proxy as well. The last test runs
serve() in a kernel that the Jupyter server started, with the hub's
environment and no override, and follows the link the cell displays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest

from course_app.main import create_app
from coursekit.proxy import PREFIX_ENV
from coursekit.serve import LiveServer, serve
from tests.jupyter_servers import HUB_BASE_URL as BASE_URL
from tests.jupyter_servers import JupyterServer, hub_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with hub_server(tmp_path_factory.mktemp("jupyter")) as server:
        yield server


@pytest.fixture
def hub_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The chapter-1 app served as under JupyterHub (prefix /user/ada/)."""
    monkeypatch.setenv(PREFIX_ENV, BASE_URL)
    with serve(create_app(upto=1), name="proxy-e2e", show=False) as live:
        yield live


def swagger_openapi_url(html: str) -> str:
    found = re.search(r"""\burl: ['"]([^'"]+)['"]""", html)
    assert found, "no openapi url in the Swagger UI page:\n" + html
    return found.group(1)


def redoc_openapi_url(html: str) -> str:
    found = re.search(r"""\bspec-url=['"]([^'"]+)['"]""", html)
    assert found, "no spec-url in the ReDoc page:\n" + html
    return found.group(1)


def test_the_jupyter_server_loaded_jupyter_server_proxy(jupyter: JupyterServer) -> None:
    log = jupyter.log.read_text(errors="replace")
    assert "jupyter_server_proxy | extension was successfully loaded" in log, log


def test_a_route_answers_through_the_proxy(
    jupyter: JupyterServer, hub_app: LiveServer
) -> None:
    proxied = f"{BASE_URL}proxy/{hub_app.port}"
    response = jupyter.get(f"{proxied}/items/5?q=x")
    assert response.status_code == 200, response.text
    assert response.json() == {"item_id": 5, "q": "x"}
    # It reached this server (uvicorn logs the path with its root_path).
    assert f'GET {proxied}/items/5?q=x HTTP/1.1" 200' in hub_app.logs()


def test_docs_url_is_the_proxied_swagger_ui(
    jupyter: JupyterServer, hub_app: LiveServer
) -> None:
    proxied = f"{BASE_URL}proxy/{hub_app.port}"
    assert hub_app.docs_url == f"{proxied}/docs"
    assert hub_app.redoc_url == f"{proxied}/redoc"

    docs = jupyter.get(hub_app.docs_url)
    assert docs.status_code == 200, docs.text
    assert "swagger-ui" in docs.text
    openapi_url = swagger_openapi_url(docs.text)
    assert openapi_url == f"{proxied}/openapi.json"

    # What the Swagger UI page fetches next, resolved as the browser does.
    schema = jupyter.get(urljoin(str(docs.url), openapi_url))
    assert schema.status_code == 200, schema.text
    assert schema.headers["content-type"].startswith("application/json")
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    assert "/items/{item_id}" in spec["paths"]
    # "Try it out" sends requests to the servers listed here: the proxy.
    assert spec["servers"] == [{"url": proxied}]
    # Its JavaScript and CSS come from the app, through the proxy too.
    for asset in re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', docs.text):
        assert asset.startswith(f"{proxied}/_coursekit/docs/"), asset
        loaded = jupyter.get(urljoin(str(docs.url), asset))
        assert loaded.status_code == 200, asset


def test_redoc_loads_openapi_json_through_the_proxy(
    jupyter: JupyterServer, hub_app: LiveServer
) -> None:
    proxied = f"{BASE_URL}proxy/{hub_app.port}"
    redoc = jupyter.get(hub_app.redoc_url)
    assert redoc.status_code == 200, redoc.text
    openapi_url = redoc_openapi_url(redoc.text)
    assert openapi_url == f"{proxied}/openapi.json"
    schema = jupyter.get(urljoin(str(redoc.url), openapi_url))
    assert schema.status_code == 200, schema.text
    assert "/items/{item_id}" in schema.json()["paths"]


def test_without_the_prefix_the_docs_page_cannot_load_its_schema(
    jupyter: JupyterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Why root_path matters: an app that does not know the proxy's prefix
    # still answers through the proxy, but its docs page links openapi.json
    # at the server's root, which the browser asks of the Jupyter server.
    monkeypatch.setenv(PREFIX_ENV, "")  # force plain local links
    with serve(create_app(upto=1), name="proxy-e2e-local", show=False) as live:
        docs = jupyter.get(f"{BASE_URL}proxy/{live.port}/docs")
        assert docs.status_code == 200, docs.text
        openapi_url = swagger_openapi_url(docs.text)
        assert openapi_url == "/openapi.json"

        schema = jupyter.get(urljoin(str(docs.url), openapi_url))
        assert schema.status_code == 404
        assert schema.headers["server"].startswith("TornadoServer")
        assert "<title>Jupyter Server</title>" in schema.text
        # The app itself has the schema; only the link to it is wrong.
        assert httpx.get(live.url + "/openapi.json").status_code == 200


KERNEL_CELL = """\
import json
from coursekit.serve import serve
from course_app.main import create_app

server = serve(create_app(upto=1))
print(json.dumps({"port": server.port, "docs_url": server.docs_url}))
"""


def test_serve_in_a_kernel_of_the_jupyter_server_links_through_the_proxy(
    jupyter: JupyterServer,
) -> None:
    # The whole way a learner goes: a kernel started by the Jupyter server
    # (so with the hub's environment, no override) runs serve(); the link it
    # shows opens Swagger UI through the proxy, and that loads the schema.
    with jupyter.kernel() as kernel:
        printed, shown = kernel.run(KERNEL_CELL)
        info = json.loads(printed)
        proxied = f"{BASE_URL}proxy/{info['port']}"
        assert info["docs_url"] == f"{proxied}/docs"
        # The link the learner clicks in the cell's output (the kernel, and
        # so the server, still running).
        [display] = shown
        links = re.findall(r'href="([^"]+)"', display["data"]["text/html"])
        assert links == [f"{proxied}/docs", f"{proxied}/redoc"]

        docs = jupyter.get(links[0])
        assert docs.status_code == 200, docs.text
        openapi_url = swagger_openapi_url(docs.text)
        assert openapi_url == f"{proxied}/openapi.json"
        schema = jupyter.get(urljoin(str(docs.url), openapi_url))
        assert "/items/{item_id}" in schema.json()["paths"]
