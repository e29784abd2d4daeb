"""The benchmark's three endpoints as a bare ASGI callable: the floor.

No framework: the path is split by hand, the query string parsed with the
standard library, and the body sent in two ASGI messages. This is about the
least work a Python ASGI app can do per request under uvicorn; the other two
servers are measured against it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bench.apps import (
    GREETING,
    USER_NOT_FOUND,
    dumps,
    item_body,
    open_database,
    parse_int,
    read_user,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_GREETING_BODY = dumps(GREETING)
_NOT_FOUND_BODY = dumps({"detail": "Not Found"})
_METHOD_BODY = dumps({"detail": "Method Not Allowed"})
_USER_NOT_FOUND_BODY = dumps({"detail": USER_NOT_FOUND})


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode("ascii")),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _query_value(scope: Scope, name: str) -> str | None:
    # The last value wins, as with Starlette's QueryParams.get().
    value = None
    query = scope["query_string"].decode("latin-1")
    for key, item in parse_qsl(query, keep_blank_values=True):
        if key == name:
            value = item
    return value


def _invalid(name: str) -> bytes:
    return dumps({"detail": f"{name} must be an integer"})


def make_app(engine: Engine, factory: sessionmaker[Session]) -> ASGIApp:
    """The ASGI callable, reading users through ``factory``."""

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                engine.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _send_json(send, 405, _METHOD_BODY)
            return
        path: str = scope["path"]
        if path == "/":
            await _send_json(send, 200, _GREETING_BODY)
            return
        parts = path.split("/")  # "/items/42" -> ["", "items", "42"]
        if len(parts) != 3 or not parts[2] or parts[1] not in ("items", "users"):
            await _send_json(send, 404, _NOT_FOUND_BODY)
            return
        number = parse_int(parts[2])
        if number is None:
            await _send_json(send, 422, _invalid(f"{parts[1][:-1]}_id"))
        elif parts[1] == "items":
            body = item_body(number, _query_value(scope, "q"))
            await _send_json(send, 200, dumps(body))
        else:
            # Blocking database work goes to the thread pool in one hop.
            user = await anyio.to_thread.run_sync(read_user, factory, number)
            if user is None:
                await _send_json(send, 404, _USER_NOT_FOUND_BODY)
            else:
                await _send_json(send, 200, dumps(user))

    return app


def __getattr__(name: str) -> Any:
    # Built on first use, from DATABASE_URL, so that importing reads nothing.
    if name == "app":
        application = make_app(*open_database())
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
