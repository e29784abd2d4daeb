"""The checks' WebSocket client: every way a connection fails is a CheckFailed."""

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, WebSocket

from coursekit.contracts.expect import CheckFailed
from coursekit.contracts.ws_client import WebSocketOpener, receive_json
from coursekit.serve import serve
from coursekit.services.base import free_port


def _app() -> FastAPI:
    app = FastAPI()

    @app.websocket("/quiet")
    async def quiet(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("not json")
        await asyncio.sleep(30)

    @app.websocket("/json")
    async def json_route(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"type": "hello"})
        await asyncio.sleep(30)

    return app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = serve(_app(), name="ws-client-test", show=False)
    yield server.url
    server.stop()


def test_a_message_is_read_as_json(url: str) -> None:
    with WebSocketOpener(url, None, 10)("/json") as connection:
        assert receive_json(connection, 10, "a hello") == {"type": "hello"}


def test_a_missing_route_is_a_refused_handshake(url: str) -> None:
    opener = WebSocketOpener(url, None, 10)
    with pytest.raises(CheckFailed, match="refused with 403"), opener("/nowhere"):
        pass


def test_no_server_is_no_connection() -> None:
    opener = WebSocketOpener(f"http://127.0.0.1:{free_port()}", None, 5)
    with pytest.raises(CheckFailed, match="no WebSocket connection"), opener("/ws"):
        pass


def test_text_that_is_not_json_and_silence_are_failures(url: str) -> None:
    with WebSocketOpener(url, None, 10)("/quiet") as connection:
        with pytest.raises(CheckFailed, match="not JSON"):
            receive_json(connection, 10, "JSON")
        with pytest.raises(CheckFailed, match="no WebSocket message within"):
            receive_json(connection, 0.2, "more")
