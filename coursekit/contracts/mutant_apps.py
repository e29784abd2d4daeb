"""The buggy apps behind the chapters' mutants: each the reference, one bug in.

The chapters' contracts declare the mutants (``@mutant``: the bug in words,
the hint, the points); the apps are built here, on the reference of the
chapter, so that a mutant differs from the reference in its bug and nothing
else: same title, same routes, same operation ids, same answers elsewhere.

Imported only to build a mutant (it imports FastAPI and the reference), and
written without postponed annotations: FastAPI reads the endpoints' type
hints at run time, and these endpoints live in functions.
"""

import functools
import json
import secrets
import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute

from course_app.config import Settings
from course_app.main import create_app
from course_app.routers import root
from course_app.routers.root import ItemEcho


def fresh_app(upto: int) -> FastAPI:
    """``create_app(upto=upto)`` on a store and a signing key of its own.

    Each run of a learner's test gets an app that no other run has written
    to (a temporary SQLite file, an outbox beside it, removed with the app),
    and tokens signed with a key made for it: the environment's settings
    would share one database file in the grader's working folder.
    """
    folder = FilePath(tempfile.mkdtemp(prefix="coursekit-app-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'app.db'}",
        secret_key=secrets.token_urlsafe(32),
        outbox_dir=folder / "outbox",
    )
    app = create_app(upto=upto, settings=settings)
    weakref.finalize(app, shutil.rmtree, folder, ignore_errors=True)
    return app


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

    return _replaced(fresh_app(upto=1), "/items/{item_id}", read_item)


def negatives_refused() -> FastAPI:
    async def read_item(
        item_id: Annotated[int, Path(ge=0)], q: str | None = None
    ) -> ItemEcho:
        """Echo the item id, converted to an integer, and the optional `q`."""
        return ItemEcho(item_id=item_id, q=q)

    return _replaced(fresh_app(upto=1), "/items/{item_id}", read_item)


def input_not_echoed() -> FastAPI:
    async def without_input(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        errors = [
            {key: value for key, value in error.items() if key not in ("input", "ctx")}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    app = fresh_app(upto=1)
    app.add_exception_handler(RequestValidationError, without_input)
    return app


def no_swagger_ui() -> FastAPI:
    return _without(fresh_app(upto=1), "/docs", "/docs/oauth2-redirect")


def no_redoc() -> FastAPI:
    return _without(fresh_app(upto=1), "/redoc")


def root_undocumented() -> FastAPI:
    return _replaced(fresh_app(upto=1), "/", root.read_root, include_in_schema=False)


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

    return _documented(fresh_app(upto=1), as_text)


def q_required() -> FastAPI:
    async def read_item(item_id: int, q: str) -> ItemEcho:
        """Echo the item id, converted to an integer, and the optional `q`."""
        return ItemEcho(item_id=item_id, q=q)

    return _replaced(fresh_app(upto=1), "/items/{item_id}", read_item)


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
    app = fresh_app(upto=2)
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

    return _documented(fresh_app(upto=2), with_hash)


# -- chapter 11 ----------------------------------------------------------------


def _shadowed(
    app: FastAPI, path: str, method: str, endpoint: Callable[..., Any], **options: Any
) -> FastAPI:
    """``app`` where ``endpoint`` answers ``method path`` before the reference does.

    Routes match in order: the new route, moved first, shadows the old one,
    which stays (and keeps its place in the OpenAPI document).
    """
    from course_app.routers.pages import same_origin

    app.router.add_api_route(
        path,
        endpoint,
        methods=[method],
        dependencies=[Depends(same_origin)],
        response_class=HTMLResponse,
        include_in_schema=False,
        **options,
    )
    app.router.routes.insert(0, app.router.routes.pop())
    return app


class _ScriptReadableCookie:
    """ASGI middleware: the session cookie loses its ``HttpOnly``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        (k, v.replace(b"; HttpOnly", b"") if k == b"set-cookie" else v)
                        for k, v in message.get("headers", [])
                    ],
                }
            await send(message)

        await self.app(scope, receive, rewrite)


def cookie_without_httponly() -> FastAPI:
    app = fresh_app(upto=11)
    app.add_middleware(_ScriptReadableCookie)
    return app


def any_password_signs_in() -> FastAPI:
    from pydantic import validate_email
    from pydantic_core import PydanticCustomError

    from course_app.routers import pages
    from course_app.sessions import start_session

    # The reference's signature (FastAPI reads it through __wrapped__), so the
    # mutant takes the same form fields and dependencies.
    @functools.wraps(pages.sign_in)
    def sign_in(
        request: Request, username: str, password: str, repo: Any, settings: Settings
    ) -> Any:
        try:
            _, email = validate_email(username)
        except PydanticCustomError:
            email = username
        user = repo.get_by_email(email)  # the bug: the password is not checked
        if user is None:
            return pages.sign_in(request, username, password, repo, settings)
        response = RedirectResponse(pages.CATALOGUE_PATH, 303)
        start_session(response, request, user, settings)
        return response

    return _shadowed(fresh_app(upto=11), "/pages/login", "POST", sign_in)


def name_not_escaped() -> FastAPI:
    import jinja2
    from fastapi.templating import Jinja2Templates

    from course_app.routers import pages
    from course_app.sessions import SessionUserDep

    raw = Jinja2Templates(
        env=jinja2.Environment(
            loader=jinja2.FileSystemLoader(pages.PACKAGE_DIR / "templates"),
            autoescape=False,  # the bug
        )
    )

    def catalogue_page(
        request: Request, user: SessionUserDep, page: Annotated[int, Query(ge=1)] = 1
    ) -> Any:
        items = pages._catalogue()
        start = (page - 1) * pages.PAGE_SIZE
        return raw.TemplateResponse(
            request,
            "catalogue.html",
            {
                "user": user,
                "items": items[start : start + pages.PAGE_SIZE],
                "page": page,
                "pages": -(-len(items) // pages.PAGE_SIZE),
            },
            headers=pages.PAGE_HEADERS,
        )

    return _shadowed(fresh_app(upto=11), "/pages/catalogue", "GET", catalogue_page)
