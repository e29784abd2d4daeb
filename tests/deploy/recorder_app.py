"""A tiny ASGI app that records what reached it, for the proxy's tests.

Every request but ``GET /_seen`` is recorded: the client address uvicorn
gives the app (``scope["client"]``: the TCP peer with
``--no-proxy-headers``, else what ``X-Forwarded-For`` says when trusted), the scheme,
the path and the headers. ``GET /_seen`` returns the records as JSON; ask
the app server directly for it, not through the proxy. ``/big`` answers a
JSON body of about 60 kB, everything else ``{"ok": true}``. Serve it with a
single worker: the records live in the worker's memory.
"""

from __future__ import annotations

import json
from typing import Any

SEEN: list[dict[str, Any]] = []
BIG = json.dumps(
    [{"id": n, "name": f"item {n}", "in_stock": n % 3 == 0} for n in range(2000)]
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/_seen":
        body = json.dumps(SEEN)
    else:
        SEEN.append(
            {
                "client": list(scope["client"] or ()),
                "scheme": scope["scheme"],
                "path": path,
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            }
        )
        body = BIG if path == "/big" else json.dumps({"ok": True})
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                # As FastAPI's responses do: nginx's gzip_min_length needs it.
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
