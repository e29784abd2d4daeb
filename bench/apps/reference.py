"""course_app, the course's reference FastAPI app, for uvicorn.

Chapter 4 is the first in which ``GET /users/{id}`` reads the database
(chapters 2-3 keep users in memory); the chapter-1 routes are the same in
every chapter. Chapter 4 needs no ``SECRET_KEY`` and adds no middleware.
Settings come from the environment (``DATABASE_URL``), as in production.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from course_app.config import Settings
from course_app.main import create_app

#: The chapter the reference app is built at.
CHAPTER = 4


def make_app(settings: Settings | None = None) -> FastAPI:
    """course_app at ``CHAPTER``, with ``settings`` or the environment's."""
    return create_app(upto=CHAPTER, settings=settings)


def __getattr__(name: str) -> Any:
    # Built on first use, from DATABASE_URL, so that importing reads nothing.
    if name == "app":
        application = make_app()
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
