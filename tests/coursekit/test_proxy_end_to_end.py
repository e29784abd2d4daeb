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

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from course_app.main import create_app
from coursekit.process import stop_group
from coursekit.proxy import PREFIX_ENV
from coursekit.serve import LiveServer, serve

BASE_URL = "/user/ada/"  # what JupyterHub gives user "ada"
STARTUP_TIMEOUT = 60.0

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Jupyter:
    origin: str  # http://127.0.0.1:{port}, the address the browser talks to
    client: httpx.Client  # sends the token, as the hub's cookie would
    log: Path
    runtime_dir: Path  # where the server writes its kernels' connection files

    def get(self, url: str) -> httpx.Response:
        """GET a path (or absolute URL) on the Jupyter server, as a browser would."""
        return self.client.get(urljoin(self.origin + "/", url))


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jupyter]:
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "root"
    root.mkdir()
    log = home / "server.log"
    port, token = free_port(), secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        "jupyter",
        "server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={BASE_URL}",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:  # containers and CI often run as root
        args.append("--allow-root")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JUPYTERHUB_") and k != PREFIX_ENV
    }
    # What JupyterHub sets for the single-user server; its kernels inherit it.
    env["JUPYTERHUB_SERVICE_PREFIX"] = BASE_URL
    # The user's own config and runtime files stay out of it; the server
    # extensions enabled in this environment (sys-prefix config) still load.
    env["JUPYTER_CONFIG_DIR"] = str(home / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    origin = f"http://127.0.0.1:{port}"
    client = httpx.Client(headers={"Authorization": f"token {token}"}, timeout=10)
    server = Jupyter(
        origin=origin, client=client, log=log, runtime_dir=home / "runtime"
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"jupyter server exited with {process.returncode}:\n"
                    + log.read_text(errors="replace")
                )
            with contextlib.suppress(httpx.TransportError):
                if server.get(f"{BASE_URL}api/status").status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"jupyter server did not answer within {STARTUP_TIMEOUT:g} s:\n"
                    + log.read_text(errors="replace")
                )
            time.sleep(0.1)
        yield server
    finally:
        client.close()
        stop_group(process, timeout=15)


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


def test_the_jupyter_server_loaded_jupyter_server_proxy(jupyter: Jupyter) -> None:
    log = jupyter.log.read_text(errors="replace")
    assert "jupyter_server_proxy | extension was successfully loaded" in log, log


def test_a_route_answers_through_the_proxy(
    jupyter: Jupyter, hub_app: LiveServer
) -> None:
    proxied = f"{BASE_URL}proxy/{hub_app.port}"
    response = jupyter.get(f"{proxied}/items/5?q=x")
    assert response.status_code == 200, response.text
    assert response.json() == {"item_id": 5, "q": "x"}
    # It reached this server (uvicorn logs the path with its root_path).
    assert f'GET {proxied}/items/5?q=x HTTP/1.1" 200' in hub_app.logs()


def test_docs_url_is_the_proxied_swagger_ui(
    jupyter: Jupyter, hub_app: LiveServer
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
    jupyter: Jupyter, hub_app: LiveServer
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
    jupyter: Jupyter, monkeypatch: pytest.MonkeyPatch
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
    jupyter: Jupyter,
) -> None:
    # The whole way a learner goes: a kernel started by the Jupyter server
    # (so with the hub's environment, no override) runs serve(); the link it
    # shows opens Swagger UI through the proxy, and that loads the schema.
    from jupyter_client import BlockingKernelClient

    started = jupyter.client.post(
        urljoin(jupyter.origin, f"{BASE_URL}api/kernels"), json={"name": "python3"}
    )
    assert started.status_code == 201, started.text
    kernel_id = started.json()["id"]
    client = BlockingKernelClient()
    try:
        client.load_connection_file(jupyter.runtime_dir / f"kernel-{kernel_id}.json")
        client.start_channels()
        client.wait_for_ready(timeout=30)
        outputs: list[dict] = []
        reply = client.execute_interactive(
            KERNEL_CELL,
            timeout=30,
            output_hook=lambda msg: outputs.append(msg),
        )
        shown = [m["content"] for m in outputs if m["msg_type"] == "display_data"]
        printed = "".join(
            m["content"]["text"] for m in outputs if m["msg_type"] == "stream"
        )
        errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
        assert reply["content"]["status"] == "ok", errors

        info = json.loads(printed)
        proxied = f"{BASE_URL}proxy/{info['port']}"
        assert info["docs_url"] == f"{proxied}/docs"
        # The link the learner clicks in the cell's output.
        [display] = shown
        links = re.findall(r'href="([^"]+)"', display["data"]["text/html"])
        assert links == [f"{proxied}/docs", f"{proxied}/redoc"]

        docs = jupyter.get(links[0])
        assert docs.status_code == 200, docs.text
        openapi_url = swagger_openapi_url(docs.text)
        assert openapi_url == f"{proxied}/openapi.json"
        schema = jupyter.get(urljoin(str(docs.url), openapi_url))
        assert "/items/{item_id}" in schema.json()["paths"]
    finally:
        client.stop_channels()
        jupyter.client.delete(
            urljoin(jupyter.origin, f"{BASE_URL}api/kernels/{kernel_id}")
        )
