"""The benchmark's three endpoints in plain Starlette: FastAPI's foundation.

Starlette's routing, ``Request`` and ``JSONResponse``, and nothing of
FastAPI: no dependency injection, no pydantic validation of parameters or
of the response. The database read runs in the thread pool in one hop
(``run_in_threadpool``), as course_app's ``def`` route runs in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.apps import (
    GREETING,
    USER_NOT_FOUND,
    item_body,
    open_database,
    parse_int,
    read_user,
)


def _invalid(name: str) -> JSONResponse:
    return JSONResponse({"detail": f"{name} must be an integer"}, status_code=422)


async def read_root(request: Request) -> JSONResponse:
    return JSONResponse(GREETING)


async def read_item(request: Request) -> JSONResponse:
    item_id = parse_int(request.path_params["item_id"])
    if item_id is None:
        return _invalid("item_id")
    return JSONResponse(item_body(item_id, request.query_params.get("q")))


def make_app(engine: Engine, factory: sessionmaker[Session]) -> Starlette:
    """The Starlette app, reading users through ``factory``."""

    async def read_user_route(request: Request) -> JSONResponse:
        user_id = parse_int(request.path_params["user_id"])
        if user_id is None:
            return _invalid("user_id")
        user = await run_in_threadpool(read_user, factory, user_id)
        if user is None:
            return JSONResponse({"detail": USER_NOT_FOUND}, status_code=404)
        return JSONResponse(user)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            engine.dispose()

    return Starlette(
        routes=[
            Route("/", read_root),
            Route("/items/{item_id}", read_item),
            Route("/users/{user_id}", read_user_route),
        ],
        lifespan=lifespan,
    )


def __getattr__(name: str) -> Any:
    # Built on first use, from DATABASE_URL, so that importing reads nothing.
    if name == "app":
        application = make_app(*open_database())
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
