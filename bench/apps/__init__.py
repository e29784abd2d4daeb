"""The three servers section 1 (``bench/serving.py``) puts under load.

Each module exposes ``app`` for ``uvicorn bench.apps.<module>:app`` (built
on first use from ``DATABASE_URL``) and ``make_app(...)`` for tests; all
serve the same three read endpoints with byte-identical JSON bodies:

* ``GET /`` -> ``{"message":"Hello, FastAPI"}``
* ``GET /items/{item_id}?q=`` -> ``{"item_id":1,"q":"x"}`` (``q`` may be null)
* ``GET /users/{user_id}`` -> ``{"id":1,"name":...,"email":...}``, one row
  read from the database at ``DATABASE_URL``

``reference`` is course_app itself; ``starlette_app`` and ``raw_asgi`` write
the same endpoints by hand. The database read is shared (``read_user``
below): the same engine and pool settings (course_app's
``create_db_engine``), the same session factory and the same query
(``SqlUserRepository.get``), run as blocking code in the thread pool, as
course_app's ``def`` route is. Only what the framework does around it differs.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from course_app.config import Settings
from course_app.db import create_db_engine, create_session_factory, create_tables
from course_app.sql_repository import MAX_ID, SqlUserRepository

__all__ = [
    "GREETING",
    "SEED_USER",
    "USER_NOT_FOUND",
    "dumps",
    "item_body",
    "open_database",
    "parse_int",
    "read_user",
    "seed_database",
]

#: What ``GET /`` answers, as course_app's ``Greeting`` does.
GREETING = {"message": "Hello, FastAPI"}
#: course_app's 404 detail for a missing user.
USER_NOT_FOUND = "User not found"
#: The user the database is seeded with before the servers start.
SEED_USER = {"name": "Ada Lovelace", "email": "ada@example.com"}


def dumps(content: Any) -> bytes:
    """JSON as Starlette's ``JSONResponse`` and pydantic render it: compact."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


def item_body(item_id: int, q: str | None) -> dict[str, Any]:
    """The body of ``GET /items/{item_id}``, as course_app's ``ItemEcho``."""
    return {"item_id": item_id, "q": q}


def parse_int(text: str) -> int | None:
    """``text`` as a path integer the way pydantic (lax mode) reads one.

    Plain decimal digits with an optional sign; anything else is None (the
    route answers 422). Enough for a benchmark: the load only sends digits.
    """
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdecimal():
        return None
    return int(text)


def read_user(factory: sessionmaker[Session], user_id: int) -> dict[str, Any] | None:
    """One user as ``UserPublic`` shows it, or None: blocking, for a thread.

    The same session life and query as course_app's ``GET /users/{id}``: a
    session from the factory, ``SqlUserRepository.get``, session closed.
    """
    if not -MAX_ID - 1 <= user_id <= MAX_ID:
        return None
    with factory() as session:
        user = SqlUserRepository(session).get(user_id)
    if user is None:
        return None
    return {"id": user.id, "name": user.name, "email": user.email}


def open_database() -> tuple[Engine, sessionmaker[Session]]:
    """course_app's engine and session factory for this environment's settings.

    ``create_app`` builds its own the same way, from ``DATABASE_URL``.
    """
    engine = create_db_engine(Settings())
    return engine, create_session_factory(engine)


def seed_database(database_url: str) -> int:
    """Create course_app's tables at ``database_url`` with one user; its id."""
    engine = create_db_engine(Settings(database_url=database_url))
    try:
        create_tables(engine)
        with create_session_factory(engine)() as session:
            user = SqlUserRepository(session).create(
                # Never checked: the benchmark only reads the user back.
                hashed_password="not-a-real-hash",
                **SEED_USER,
            )
        return user.id
    finally:
        engine.dispose()
