"""Swagger UI and ReDoc from the live server itself, not from a CDN.

FastAPI's ``/docs`` and ``/redoc`` pages load their JavaScript and CSS from
cdn.jsdelivr.net. A classroom without internet, a locked-down JupyterHub or
a test machine then shows a blank page. ``OfflineDocs`` wraps the learner's
app (which it leaves untouched): it serves the same files, shipped by the
``fastapi-offline`` package, under ``/_coursekit/docs/`` and points the HTML
pages at them, through the proxy prefix (``root_path``) when there is one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

__all__ = [
    "ASSET_PATH",
    "CDN_FILES",
    "IN_ASSETS",
    "NOT_LOADED",
    "OfflineDocs",
    "asset_folder",
]

#: Where the assets are served, inside the app's own URL space.
ASSET_PATH = "/_coursekit/docs/"
#: The URLs FastAPI's pages load, and the local file that replaces each.
CDN_FILES = {
    "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js": (
        "swagger-ui-bundle.js"
    ),
    "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css": "swagger-ui.css",
    "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js": (
        "redoc.standalone.js"
    ),
    "https://fastapi.tiangolo.com/img/favicon.png": "favicon.png",
}
#: What ReDoc's page loads besides its script: web fonts. It falls back to
#: the browser's own fonts without them, so offline they are not asked for.
_FONTS = (
    "https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700"
)
NOT_LOADED = {_FONTS: "data:text/css,"}
#: What the assets themselves would fetch, and what they get instead. ReDoc's
#: sidebar shows Redocly's logo from their CDN, and hides it when it fails to
#: load: an empty address fails at once, without asking the network.
IN_ASSETS = {"redoc.standalone.js": {b"https://cdn.redoc.ly/redoc/logo-mini.svg": b""}}
_TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".png": b"image/png",
}
#: Large pages are never docs pages; don't hold them in memory to rewrite.
_MAX_REWRITE = 1_000_000


def asset_folder() -> Path | None:
    """The folder of fastapi-offline's static files, or None without it."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if folder.is_dir() else None


class OfflineDocs:
    """ASGI middleware: local docs assets, and HTML pages that use them."""

    def __init__(self, app: Any, folder: Path) -> None:
        self.app = app
        self.folder = folder
        self._files = {name: folder / name for name in set(CDN_FILES.values())}
        self._loaded: dict[str, bytes] = {}
        # FastAPI adds its docs routes when it is created, at these paths.
        pages = (getattr(app, "docs_url", None), getattr(app, "redoc_url", None))
        self._pages = {page for page in pages if page}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"]
        # uvicorn puts root_path in front of path (the ASGI spec's reading).
        local = path[len(root) :] if root and path.startswith(root) else path
        reading = scope["method"] in ("GET", "HEAD")
        if local.startswith(ASSET_PATH) and reading:
            await self._asset(local.removeprefix(ASSET_PATH), scope, send)
            return
        if reading and local in self._pages:
            # A compressed page can't be rewritten (chapter 06 adds
            # GZipMiddleware), so the docs pages are asked for uncompressed.
            scope = {
                **scope,
                "headers": [
                    (name, value)
                    for name, value in scope.get("headers", [])
                    if name.lower() != b"accept-encoding"
                ],
            }
        await self.app(scope, receive, _Rewriter(send, root + ASSET_PATH))

    def _read(self, name: str) -> bytes | None:
        if name not in self._loaded:
            file = self._files.get(name)
            if file is None or not file.is_file():
                return None
            body = file.read_bytes()
            for remote, local in IN_ASSETS.get(name, {}).items():
                body = body.replace(remote, local)
            self._loaded[name] = body
        return self._loaded[name]

    async def _asset(self, name: str, scope: Any, send: Any) -> None:
        body = self._read(name)
        if body is None:
            body, status, kind = b"Not Found", 404, b"text/plain; charset=utf-8"
        else:
            status, kind = 200, _TYPES[Path(name).suffix]
        headers = [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"public, max-age=86400"),
        ]
        start = {"type": "http.response.start", "status": status, "headers": headers}
        await send(start)
        await send(
            {
                "type": "http.response.body",
                "body": b"" if scope["method"] == "HEAD" else body,
            }
        )


class _Rewriter:
    """A ``send`` that points HTML pages' CDN links at the local assets."""

    def __init__(self, send: Any, base: str) -> None:
        self.send = send
        self.replacements = [
            (url.encode(), (base + name).encode()) for url, name in CDN_FILES.items()
        ] + [(url.encode(), empty.encode()) for url, empty in NOT_LOADED.items()]
        self.start: dict[str, Any] | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = dict(message.get("headers", []))
            html = headers.get(b"content-type", b"").startswith(b"text/html")
            plain = b"content-encoding" not in headers
            if html and plain:
                self.start = message  # held back until the body is complete
                return
            await self.send(message)
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        size = sum(len(chunk) for chunk in self.chunks)
        if message.get("more_body", False) and size <= _MAX_REWRITE:
            return
        more = message.get("more_body", False)
        body = b"".join(self.chunks)
        start, self.start, self.chunks = self.start, None, []
        if more:  # too large to be a docs page: pass it on unchanged
            await self.send(start)
            await self.send({**message, "body": body})
            return
        for url, local in self.replacements:
            body = body.replace(url, local)
        headers = [
            (name, value)
            for name, value in start.get("headers", [])
            if name != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**start, "headers": headers})
        await self.send({**message, "body": body})
