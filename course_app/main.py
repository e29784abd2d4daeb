"""The application factory: the system as it stands after a given chapter.

Serve the full system with `uvicorn course_app.main:app`, or build any
chapter's state with `create_app(upto=N)`. Each chapter's modules are
imported inside that chapter's part of `create_app`, so that building
chapter N needs only the files of chapters 1 to N (`course_app.chapters`).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from starlette.concurrency import run_in_threadpool

from . import chapters
from .config import Settings, ensure_secret_key, get_settings
from .errors import validation_exception_handler
from .routers import root

__all__ = ["ChapterUnavailableError", "create_app"]

logger = logging.getLogger(__name__)

FIRST_CHAPTER = 1
LAST_CHAPTER = 11

CHAPTER_TITLES = {
    1: "hello world",
    2: "CRUD: users",
    3: "async",
    4: "dependency injection",
    5: "OAuth2 password flow + JWT",
    6: "optimization",
    7: "production",
    8: "around every request",
    9: "live updates and streaming",
    10: "files and permissions",
    11: "pages and cookies",
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
    # Chapter 7 adds no routes: it shares the cache and limits logins.
    7: [],
    # Chapter 8 adds middleware, CORS and a welcome e-mail: no new routes.
    8: [],
    9: [
        {
            "name": "live",
            "description": "Sign-ups as they happen (WebSocket, server-sent "
            "events), and every user as CSV.",
        }
    ],
    10: [
        {"name": "avatars", "description": "A picture per user: upload, see, remove."}
    ],
    11: [{"name": "pages", "description": "HTML pages: the catalogue, signing in."}],
}


class ChapterUnavailableError(ImportError):
    """`create_app(upto=N)` needs a chapter of the reference that is not here.

    While an exercise is graded, its sandbox holds only the reference
    chapters the exercise builds on (`course_app.chapters`), so that the
    answer to the exercise's own chapter cannot be imported. `chapter` is
    the first chapter found missing, `upto` what was asked for, `name` the
    module that is missing and `available` the last chapter that is here.
    """

    def __init__(self, chapter: int, *, upto: int, module: str) -> None:
        self.chapter = chapter
        self.upto = upto
        self.available = chapters.available_upto()
        there = (
            f"here the reference goes up to chapter {self.available}, "
            f"so create_app(upto={self.available}) works"
            if self.available
            else "here no chapter of the reference is available"
        )
        if chapters.IS_REFERENCE:
            why = (
                "While an exercise is graded, only the chapters of the reference "
                "it builds on are available, so that nobody can import its answer"
            )
        else:  # a learner's copy, made by coursekit.catch_up
            why = (
                f"Your package {chapters.PACKAGE}/ holds the chapters you have "
                f"written or caught up; catch_up({upto}) adds the reference's "
                f"chapters up to {upto}"
            )
        super().__init__(
            f"create_app(upto={upto}): chapter {chapter} of the reference system "
            f"is not available here ({module} is missing). {why}; {there}.",
            name=module,
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the tables and the outbox at startup; close connections at shutdown.

    Only from chapter 4 on is there a database (`app.state.engine`), only in
    chapter 7 with `REDIS_URL` a Redis client (`app.state.redis`), and from
    chapter 8 an outbox for e-mails (`app.state.outbox`).
    """
    engine = app.state.engine
    if engine is not None:
        from .db import create_tables

        # Blocking I/O: keep it off the event loop, like any other.
        await run_in_threadpool(create_tables, engine)
    if app.state.outbox is not None:
        app.state.outbox.open()
    try:
        yield
    finally:
        if engine is not None:
            engine.dispose()
        if app.state.redis is not None:
            app.state.redis.close()


def create_app(upto: int | None = None, *, settings: Settings | None = None) -> FastAPI:
    """The application with the routes and middleware of chapters 1 to `upto`.

    `upto` defaults to the last chapter there is: every chapter in the
    reference; in a learner's copy (`coursekit.catch_up`), the chapters its
    folder holds, so that `create_app()` keeps working there when the
    reference gains a chapter.

    `settings` defaults to the environment's (`get_settings()`). Chapters 2-3
    keep users in memory, from chapter 4 they live in the database at
    `settings.database_url`. Chapter 7 shares the statistics cache and
    counts login attempts in the Redis at `settings.redis_url`; without it,
    it is chapter 6 (and logs so).

    Raises:
        ValueError: `upto` is not a chapter.
        ChapterUnavailableError: a module of chapters 2 to `upto` is missing,
            as in an exercise's sandbox that holds only earlier chapters.
    """
    if upto is None:
        upto = last_chapter_here()
    if isinstance(upto, bool) or not isinstance(upto, int):
        raise ValueError(f"upto must be a chapter number, an int; got {upto!r}")
    if not FIRST_CHAPTER <= upto <= LAST_CHAPTER:
        raise ValueError(
            f"upto must be a chapter from {FIRST_CHAPTER} to {LAST_CHAPTER}; got {upto}"
        )
    settings = settings or get_settings()
    try:
        app = _build(upto, settings)
    except ModuleNotFoundError as exc:
        # Only a module of the manifest is a missing chapter; a missing
        # library, or a name that is no module of the package, is a bug.
        chapter = chapters.chapter_of(exc.name or "")
        if chapter is None:
            raise
        raise ChapterUnavailableError(chapter, upto=upto, module=exc.name) from None
    if upto >= 5:  # tokens need a signing key from chapter 5 on
        app.state.settings = ensure_secret_key(app.state.settings)
    return app


def last_chapter_here() -> int:
    """The chapter `create_app()` builds: the last, or a copy's last on disk."""
    return LAST_CHAPTER if chapters.IS_REFERENCE else chapters.available_upto()


def _build(upto: int, settings: Settings) -> FastAPI:
    # A chapter's modules are imported in its own `if upto >= N` block, as
    # `from .x import y`: a missing module then raises ModuleNotFoundError
    # naming it (`from . import x` would raise a plain ImportError naming the
    # package). The imports are relative so that `coursekit.catch_up` can
    # copy the package under the learner's own package name.
    chapter_range = range(FIRST_CHAPTER, upto + 1)
    app = FastAPI(
        title="Course App",
        version="1.0.0",
        summary="The service built in the FastAPI course, chapter by chapter.",
        description=_description(upto),
        openapi_tags=[tag for chapter in chapter_range for tag in TAGS[chapter]],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.chapter = upto
    app.state.engine = None
    app.state.redis = None
    app.state.outbox = None
    app.add_exception_handler(RequestValidationError, validation_exception_handler)

    # Chapter 7: a database that does not answer is a 503 with Retry-After.
    if upto >= 7:
        from .unavailable import install as answer_503_without_database

        answer_503_without_database(app)

    # Chapter 7 keeps what the workers share in Redis, when REDIS_URL is
    # set. It connects first: chapter 5's login and chapter 6's statistics,
    # below, use the connection.
    if upto >= 7:
        from .redis_client import connect_redis

        if settings.redis_url is None:
            logger.info(
                "REDIS_URL is not set: each worker keeps its own statistics "
                "cache and logins are not rate-limited, as in chapter 6"
            )
        else:
            app.state.redis = connect_redis(settings.redis_url)

    # Chapter 1
    app.include_router(root.router)

    # Chapter 2: users, kept in memory until chapter 4 moves them to the
    # database (the engine exists from then on, for every route that needs it)
    if upto >= 2:
        from .routers.users import create_router

        if upto >= 4:
            from .db import create_db_engine, create_session_factory
            from .deps import get_pagination, get_sql_user_repo

            app.state.engine = create_db_engine(settings)
            app.state.session_factory = create_session_factory(app.state.engine)
            get_repo = get_sql_user_repo
            if upto >= 8:  # a welcome e-mail after each sign-up
                from .mail import Outbox
                from .welcome import get_welcoming_user_repo

                app.state.outbox = Outbox(
                    settings.outbox_dir, delay=settings.mail_delay_seconds
                )
                get_repo = get_welcoming_user_repo
            if upto >= 9:  # and on the live feed
                from .feed import SignupFeed
                from .routers.live import get_announcing_user_repo

                app.state.signup_feed = SignupFeed()
                get_repo = get_announcing_user_repo
            user_router = create_router(get_repo, get_page=get_pagination)
        else:
            from .repositories import (
                MemoryUserRepository,
                get_memory_user_repo,
            )

            app.state.user_repo = MemoryUserRepository()
            user_router = create_router(get_memory_user_repo)
        if upto >= 5:
            from .routers.auth import router as auth_router
            from .routers.me import router as me_router

            # Chapter 7 counts login attempts before a password is checked.
            login_limit: list[Any] = []
            if app.state.redis is not None:
                from .rate_limit import (
                    RATE_LIMITED_RESPONSES,
                    LoginRateLimiter,
                    limit_login_attempts,
                )

                app.state.login_limiter = LoginRateLimiter(
                    app.state.redis,
                    settings.login_attempts_per_minute,
                    prefix=f"{settings.redis_key_prefix}login:",
                )
                login_limit = [Depends(limit_login_attempts)]
            app.include_router(
                auth_router,
                dependencies=login_limit,
                responses=RATE_LIMITED_RESPONSES if login_limit else None,
            )
            # Routes match in order: /users/me must come before
            # /users/{user_id}, which would take "me" for an id and answer 422.
            app.include_router(me_router)
        app.include_router(user_router)

    if upto >= 3:
        from .routers.io import router as io_router

        app.include_router(io_router)

    if upto >= 4:
        from .routers.health import router as health_router
        from .routers.items import router as items_router

        app.include_router(items_router)
        app.include_router(health_router)

    if upto >= 6:
        from .routers.catalogue import router as catalogue_router
        from .routers.stats import create_stats_cache
        from .routers.stats import router as stats_router

        app.include_router(catalogue_router)
        app.include_router(stats_router)
        if app.state.redis is None:
            app.state.stats_cache = create_stats_cache(settings.cache_ttl_seconds)
        else:  # chapter 7: one cache for every worker
            from .routers.stats import UserStats
            from .shared_cache import SharedTTLCache

            app.state.stats_cache = SharedTTLCache(
                app.state.redis,
                settings.cache_ttl_seconds,
                type_=UserStats,
                prefix=f"{settings.redis_key_prefix}stats:",
            )
        # Level 6 compresses almost as well as 9 for a fraction of the CPU;
        # below 1,000 bytes the saving is not worth the work.
        app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)

    if upto >= 9:
        from .routers.live import router as live_router

        app.include_router(live_router)

    if upto >= 10:
        # Imported before the lifespan creates the tables: the model
        # registers the avatars table with them.
        from .routers.avatars import router as avatars_router

        app.include_router(avatars_router)

    if upto >= 11:
        from fastapi.staticfiles import StaticFiles

        from .routers.pages import STATIC_DIR
        from .routers.pages import router as pages_router

        app.include_router(pages_router)
        # A mounted app answers everything under its path itself: no
        # dependencies, no OpenAPI entry; `name` is what `url_for` finds.
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Chapter 8: middleware added last runs first, so the request id and
    # the timing wrap everything, CORS and gzip included, and a preflight
    # that CORS answers itself gets an id too.
    if upto >= 8:
        from fastapi.middleware.cors import CORSMiddleware

        from .request_id import HEADER as REQUEST_ID_HEADER
        from .request_id import RequestIdMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            # A page's script may read these of a response, besides the
            # few every browser shows (Content-Type, ...).
            expose_headers=[REQUEST_ID_HEADER, "Server-Timing", "X-Cache"],
            # Tokens travel in the Authorization header, not in cookies.
            allow_credentials=False,
            max_age=600,
        )
        app.add_middleware(RequestIdMiddleware)

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
    # with getattr, which lands here. The reference is always the whole
    # system; a learner's copy (`coursekit.catch_up`, under their package's
    # name) serves the chapters its folder holds, their own included.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # `fastapi run course_app/main.py` finds the app by looking for `app` in
    # dir() of the module; the lazy `app` above is listed so that it does.
    return sorted({*globals(), "app"})
