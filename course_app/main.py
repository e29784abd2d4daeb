"""The application factory: the system as it stands after a given chapter.

Serve the full system with `uvicorn course_app.main:app`, or build any
chapter's state with `create_app(upto=N)`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from starlette.concurrency import run_in_threadpool

from course_app import deps
from course_app.cache import TTLCache
from course_app.config import Settings, ensure_secret_key, get_settings
from course_app.db import create_db_engine, create_session_factory, create_tables
from course_app.errors import validation_exception_handler
from course_app.repositories import MemoryUserRepository
from course_app.routers import auth, catalogue, health, io, items, root, stats, users
from course_app.schemas import UserStats

FIRST_CHAPTER = 1
LAST_CHAPTER = 6

CHAPTER_TITLES = {
    1: "hello world",
    2: "CRUD: users",
    3: "async",
    4: "dependency injection",
    5: "OAuth2 password flow + JWT",
    6: "optimization",
}

TAGS = {
    1: [{"name": "basics", "description": "First routes: path and query parameters."}],
    2: [{"name": "users", "description": "Create, read, update and delete users."}],
    3: [{"name": "io", "description": "Waiting with `async def` and with `def`."}],
    4: [
        {"name": "items", "description": "A searchable list, page by page."},
        {"name": "health", "description": "Is the service up, with its database?"},
    ],
    5: [{"name": "auth", "description": "Log in for a token; who am I?"}],
    6: [
        {"name": "catalogue", "description": "A large response with an ETag."},
        {"name": "stats", "description": "Statistics, cached for a few seconds."},
    ],
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the tables at startup; close database connections at shutdown."""
    engine = app.state.engine
    if engine is not None:
        # Blocking I/O: keep it off the event loop, like any other.
        await run_in_threadpool(create_tables, engine)
    try:
        yield
    finally:
        if engine is not None:
            engine.dispose()


def create_app(
    upto: int = LAST_CHAPTER, *, settings: Settings | None = None
) -> FastAPI:
    """The application with the routes and middleware of chapters 1 to `upto`.

    `settings` defaults to the environment's (`get_settings()`). Chapters 2-3
    keep users in memory, from chapter 4 they live in the database at
    `settings.database_url`.
    """
    if isinstance(upto, bool) or not isinstance(upto, int):
        raise ValueError(f"upto must be a chapter number, an int; got {upto!r}")
    if not FIRST_CHAPTER <= upto <= LAST_CHAPTER:
        raise ValueError(
            f"upto must be a chapter from {FIRST_CHAPTER} to {LAST_CHAPTER}; got {upto}"
        )
    settings = settings or get_settings()
    if upto >= 5:  # tokens need a signing key from chapter 5 on
        settings = ensure_secret_key(settings)

    chapters = range(FIRST_CHAPTER, upto + 1)
    app = FastAPI(
        title="Course App",
        version="1.0.0",
        summary="The service built in the FastAPI course, chapter by chapter.",
        description=_description(upto),
        openapi_tags=[tag for chapter in chapters for tag in TAGS[chapter]],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.chapter = upto
    app.state.engine = None
    app.add_exception_handler(RequestValidationError, validation_exception_handler)

    # Chapter 1
    app.include_router(root.router)

    # Chapter 2: users, kept in memory until chapter 4 moves them to the
    # database (the engine exists from then on, for every route that needs it)
    if upto >= 2:
        if upto >= 4:
            app.state.engine = create_db_engine(settings)
            app.state.session_factory = create_session_factory(app.state.engine)
            get_user_repo = deps.get_sql_user_repo
        else:
            app.state.user_repo = MemoryUserRepository()
            get_user_repo = deps.get_memory_user_repo
        if upto >= 5:
            # Routes match in order: /users/me must come before
            # /users/{user_id}, which would take "me" for an id and answer 422.
            app.include_router(auth.router)
        app.include_router(users.create_router(get_user_repo, paginate=upto >= 4))

    if upto >= 3:
        app.include_router(io.router)

    if upto >= 4:
        app.include_router(items.router)
        app.include_router(health.router)

    if upto >= 6:
        app.include_router(catalogue.router)
        app.include_router(stats.router)
        app.state.stats_cache = TTLCache[UserStats](settings.cache_ttl_seconds)
        # Level 6 compresses almost as well as 9 for a fraction of the CPU;
        # below 1,000 bytes the saving is not worth the work.
        app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)

    return app


def _description(upto: int) -> str:
    lines = [
        "The reference system of the course, as it stands at the end of "
        f"chapter {upto}.",
        "",
    ]
    lines += [
        f"{chapter:02d}. {CHAPTER_TITLES[chapter]}"
        for chapter in range(FIRST_CHAPTER, upto + 1)
    ]
    return "\n".join(lines)


def __getattr__(name: str) -> Any:
    # `app` is built on first use rather than at import, so that importing
    # create_app (tests, notebooks) neither reads the environment nor warns
    # about a missing SECRET_KEY. `uvicorn course_app.main:app` looks it up
    # with getattr, which lands here.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
