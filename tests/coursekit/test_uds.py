"""HTTP over a Unix socket: no socket leaked on a failed connect, no TLS set-up."""

from __future__ import annotations

import gc
import ssl
import warnings
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from coursekit.serve import serve
from coursekit.uds import unix_transport


def test_a_request_reaches_the_app_on_the_socket(tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/")
    def root() -> dict[str, str]:
        return {"over": "a socket"}

    socket = tmp_path / "app.sock"
    with serve(app, name="uds-test", show=False, uds=str(socket)) as server:
        assert (server.uds, server.port) == (str(socket), None)
        transport = unix_transport(str(socket))
        with httpx.Client(transport=transport, base_url=server.url) as client:
            assert client.get("/").json() == {"over": "a socket"}


def test_a_failed_connect_leaves_no_socket_open(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        transport = unix_transport(str(tmp_path / "nobody.sock"))
        with (
            httpx.Client(transport=transport, base_url="http://localhost") as client,
            pytest.raises(httpx.ConnectError),
        ):
            client.get("/")
        gc.collect()


def test_no_ca_bundle_is_loaded_for_plain_http() -> None:
    context = unix_transport("/nowhere.sock")._pool._ssl_context
    assert context is None or context.verify_mode == ssl.CERT_NONE
