"""The buggy apps behind the chapters' mutants: each the reference, one bug in.

The chapters' contracts declare the mutants (``@mutant``: the bug in words,
the hint, the points); the apps are built here, on the reference of the
chapter, so that a mutant differs from the reference in its bug and nothing
else: same title, same routes, same operation ids, same answers elsewhere.

Imported only to build a mutant (it imports FastAPI and the reference), and
written without postponed annotations: FastAPI reads the endpoints' type
hints at run time, and these endpoints live in functions.
"""

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from course_app.main import create_app
from course_app.routers import root
from course_app.routers.root import ItemEcho

# -- chapter 01 ----------------------------------------------------------------


def _replaced(
    app: FastAPI, path: str, endpoint: Callable[..., Any], **options: Any
) -> FastAPI:
    """``app`` with its GET ``path`` answered by ``endpoint`` instead.

    The reference's router is shared by every app of this process (an app
    links to the routers it includes): the mutant gets a copy of it.
    """
    copy = APIRouter(tags=["basics"])
    for route in root.router.routes:
        if isinstance(route, APIRoute) and route.path == path:
            copy.add_api_route(path, endpoint, methods=["GET"], **options)
        else:
            copy.routes.append(route)
    routes = app.router.routes
    [index] = [
        i
        for i, route in enumerate(routes)
        if getattr(route, "original_router", None) is root.router
    ]
    app.include_router(copy)
    routes[index] = routes.pop()
    return app


def _without(app: FastAPI, *paths: str) -> FastAPI:
    app.router.routes[:] = [
        r for r in app.router.routes if getattr(r, "path", None) not in paths
    ]
    return app


def floats_accepted() -> FastAPI:
    async def read_item(item_id: float, q: str | None = None) -> dict[str, Any]:
        """Echo the item id, converted to an integer, and the optional `q`."""
        return {"item_id": item_id, "q": q}

    return _replaced(create_app(upto=1), "/items/{item_id}", read_item)


def negatives_refused() -> FastAPI:
    async def read_item(
        item_id: Annotated[int, Path(ge=0)], q: str | None = None
    ) -> ItemEcho:
        """Echo the item id, converted to an integer, and the optional `q`."""
        return ItemEcho(item_id=item_id, q=q)

    return _replaced(create_app(upto=1), "/items/{item_id}", read_item)


def input_not_echoed() -> FastAPI:
    async def without_input(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        errors = [
            {key: value for key, value in error.items() if key not in ("input", "ctx")}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    app = create_app(upto=1)
    app.add_exception_handler(RequestValidationError, without_input)
    return app


def no_swagger_ui() -> FastAPI:
    return _without(create_app(upto=1), "/docs", "/docs/oauth2-redirect")


def no_redoc() -> FastAPI:
    return _without(create_app(upto=1), "/redoc")


def root_undocumented() -> FastAPI:
    return _replaced(create_app(upto=1), "/", root.read_root, include_in_schema=False)


def _documented(app: FastAPI, change: Callable[[dict[str, Any]], None]) -> FastAPI:
    """``app`` whose OpenAPI document ``change`` alters: a bug in the docs only."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()
        change(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def item_id_documented_as_text() -> FastAPI:
    def as_text(schema: dict[str, Any]) -> None:
        for parameter in schema["paths"]["/items/{item_id}"]["get"]["parameters"]:
            if parameter["name"] == "item_id":
                parameter["schema"] = {"type": "string", "title": "Item Id"}

    return _documented(create_app(upto=1), as_text)


def q_required() -> FastAPI:
    async def read_item(item_id: int, q: str) -> ItemEcho:
        """Echo the item id, converted to an integer, and the optional `q`."""
        return ItemEcho(item_id=item_id, q=q)

    return _replaced(create_app(upto=1), "/items/{item_id}", read_item)


# -- chapter 02 ----------------------------------------------------------------


class _Leak:
    """ASGI middleware: one route's JSON users show their stored hash.

    The bug it stands for is the usual one: a route that returns the stored
    record (with ``hashed_password``) instead of ``UserPublic``. The route is
    ``method`` on the collection (``/users/``) or on one user.
    """

    def __init__(self, app: Any, method: str, collection: bool) -> None:
        self.app, self.method, self.collection = app, method, collection

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        on_collection = path.rstrip("/") == "/users"
        if (
            scope["type"] != "http"
            or scope["method"] != self.method
            or not path.startswith("/users")
            or on_collection != self.collection
        ):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = self._leak(b"".join(chunks), scope["app"])
            headers = [
                (k, v) for k, v in start.get("headers", []) if k != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)

    def _leak(self, body: bytes, app: Any) -> bytes:
        try:
            data = json.loads(body)
        except ValueError:
            return body
        repo = app.state.user_repo
        for user in data if isinstance(data, list) else [data]:
            if isinstance(user, dict) and isinstance(user.get("id"), int):
                record = repo.get(user["id"])
                if record is not None:
                    user["hashed_password"] = record.hashed_password
        return json.dumps(data, separators=(",", ":")).encode()


def _leaking(method: str, *, collection: bool) -> FastAPI:
    app = create_app(upto=2)
    app.add_middleware(_Leak, method=method, collection=collection)
    return app


def create_shows_hash() -> FastAPI:
    return _leaking("POST", collection=True)


def read_shows_hash() -> FastAPI:
    return _leaking("GET", collection=False)


def update_shows_hash() -> FastAPI:
    return _leaking("PATCH", collection=False)


def list_shows_hash() -> FastAPI:
    return _leaking("GET", collection=True)


def schema_documents_hash() -> FastAPI:
    def with_hash(schema: dict[str, Any]) -> None:
        public = schema["components"]["schemas"]["UserPublic"]
        public["properties"].setdefault(
            "hashed_password", {"type": "string", "title": "Hashed Password"}
        )

    return _documented(create_app(upto=2), with_hash)
