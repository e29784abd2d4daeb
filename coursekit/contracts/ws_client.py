"""WebSocket connections for the checks, to the server under test.

The checks open them as they send HTTP requests: over TCP to ``base_url``,
or over the Unix socket the grader serves a sandboxed submission on. A
connection that cannot be made, or a handshake the app refuses, is a check
failure that says so, not an exception of the WebSocket library.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect, unix_connect

from coursekit.contracts.expect import fail

__all__ = ["WebSocketOpener", "receive_json"]


class WebSocketOpener:
    """Opens WebSocket connections to one server: ``with opener("/ws") as ws``."""

    def __init__(self, base_url: str, uds: str | None, timeout: float) -> None:
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.base = f"{scheme}://{parts.netloc}"
        self.uds = uds
        self.timeout = timeout

    @contextmanager
    def __call__(self, path: str) -> Iterator[ClientConnection]:
        url = self.base + path
        try:
            connection = (
                unix_connect(self.uds, url, open_timeout=self.timeout, close_timeout=1)
                if self.uds is not None
                else connect(url, open_timeout=self.timeout, close_timeout=1)
            )
        except InvalidStatus as refused:
            status = refused.response.status_code
            fail(
                f"the WebSocket handshake at {path} was refused with {status}",
                expected=f"101 Switching Protocols: a WebSocket route at {path} "
                "that calls `await websocket.accept()`",
                got=f"{status} {refused.response.reason_phrase}",
            )
        except (InvalidHandshake, WebSocketException, OSError, TimeoutError) as error:
            fail(
                f"no WebSocket connection to {path}",
                expected=f"a WebSocket route at {path}",
                got=f"{type(error).__name__}: {error}",
            )
        # As a context manager: it closes, and websockets sees it used so.
        with connection:
            yield connection


def receive_json(connection: ClientConnection, timeout: float, what: str) -> Any:
    """The next message as JSON, or a failure naming ``what`` was awaited."""
    try:
        message = connection.recv(timeout=timeout)
    except TimeoutError:
        fail(
            f"no WebSocket message within {timeout:g} s",
            expected=what,
            got="nothing",
        )
    except WebSocketException as error:
        fail(
            "the WebSocket connection ended",
            expected=what,
            got=f"{type(error).__name__}: {error}",
        )
    try:
        return json.loads(message)
    except (TypeError, ValueError):
        fail(
            "a WebSocket message that is not JSON",
            expected=what,
            got=repr(message[:200]),
        )
