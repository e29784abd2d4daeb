"""Database engine, sessions and the declarative base of the ORM models."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool

from .config import Settings


class Base(DeclarativeBase):
    """Base class of the ORM models; its metadata holds every table."""


def is_memory_sqlite(url: URL) -> bool:
    """Whether `url` names an in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


def engine_options(url: URL, settings: Settings) -> dict[str, Any]:
    """The `create_engine` keyword arguments for `url`.

    The `DB_POOL_*` settings apply where the dialect uses a queue pool
    (PostgreSQL, MySQL, file SQLite, ...).
    """
    # Connections may be dead when taken from the pool (server restart, idle
    # timeout): test each one with a cheap ping before handing it out.
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        # FastAPI runs `def` endpoints in a thread pool, so a connection is
        # not always used by the thread that opened it.
        options["connect_args"] = {"check_same_thread": False}
        if is_memory_sqlite(url):
            # Every connection to :memory: is a new, empty database: share a
            # single connection so that all requests see the same data.
            options["poolclass"] = StaticPool
            return options
    if issubclass(url.get_dialect().get_pool_class(url), QueuePool):
        options.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            pool_recycle=settings.db_pool_recycle,
        )
    return options


def create_db_engine(settings: Settings) -> Engine:
    """The engine for `settings.database_url`: any SQLAlchemy URL works."""
    url = make_url(settings.database_url)
    return create_engine(url, **engine_options(url, settings))


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to `engine`."""
    # Objects stay readable after commit without another round trip.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def released(session: Session) -> Iterator[Session]:
    """End the session's transaction on the way out, returning its connection.

    A request's session is closed only after FastAPI has validated the
    response, which for a `def` route waits for a free worker thread. A
    connection kept until then is held by a request that waits for a thread
    while the threads wait for connections: under load, a deadlock until the
    pool times out (fastapi/fastapi#3205). So every unit of database work
    hands its connection back as soon as it is done. Writes commit first;
    what is left to end here is a read, or a write that failed.
    """
    try:
        yield session
    finally:
        if session.in_transaction():
            session.rollback()


def create_tables(engine: Engine) -> None:
    """Create the tables that do not exist yet.

    Safe when server workers start together: each checks which tables are
    missing and then creates them, so two may both try to create one. The
    one that loses sees "already exists" and checks again.
    """
    from . import models  # noqa: F401  (registers the tables)

    for attempt in range(1, 6):
        try:
            Base.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            # SQLite says OperationalError, PostgreSQL a unique violation.
            if attempt == 5:
                raise
            time.sleep(0.05 * attempt)
