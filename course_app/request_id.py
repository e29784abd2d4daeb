"""Chapter 8: a request id and the time taken, on every response.

A pure ASGI middleware rather than `@app.middleware("http")`: it wraps the
app without reading the body into memory or running the route in another
task (what Starlette's `BaseHTTPMiddleware` does), so streaming responses and
background tasks behave as they would without it.
"""

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HEADER", "RequestIdMiddleware", "new_request_id", "valid_request_id"]

logger = logging.getLogger(__name__)

HEADER = "X-Request-ID"
#: What a client's own request id may look like. Anything else is replaced:
#: the id goes into logs and headers, where a newline or a kilobyte of text
#: from a stranger has no business.
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def valid_request_id(value: str) -> bool:
    """Whether a client's `X-Request-ID` is one to keep: 1-64 of `A-Za-z0-9._-`."""
    return _VALID.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh id: 32 hex digits of a random UUID."""
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give each HTTP request an id, and time it.

    The id is the client's `X-Request-ID` when it is valid (a proxy or a
    front end in front of us made it), else a new one. The route reads it as
    `request.state.request_id`; the response carries it in `X-Request-ID`,
    with `Server-Timing: app;dur=<milliseconds>`, the time until the
    response started. An exception no handler took becomes a 500 whose body
    names the id, and the log line with the traceback names it too: the
    user quotes the id, the log has the rest.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and valid_request_id(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                milliseconds = (time.perf_counter() - started) * 1000
                headers = MutableHeaders(scope=message)
                headers[HEADER] = request_id
                headers.append("Server-Timing", f"app;dur={milliseconds:.1f}")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception(
                "request %s failed: %s %s", request_id, scope["method"], scope["path"]
            )
            if response_started:  # too late for a 500: the client sees a cut
                raise
            response = JSONResponse(
                {"detail": "Internal Server Error", "request_id": request_id},
                status_code=500,
            )
            await response(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
