"""Chapter 4's dependencies, each with an `Annotated` alias to declare it in one word.

Routes declare what they need (`session: SessionDep`) and FastAPI provides
it per request; tests swap any of them with `app.dependency_overrides`.
Dependencies of later chapters live with what they serve: the current user
(chapter 5) in `course_app.current_user`, the stats cache (chapter 6) in
`course_app.routers.stats`.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from .config import Settings
from .pagination import Pagination, PaginationDep, get_pagination
from .repositories import UserRepository
from .sql_repository import SqlUserRepository

# Pagination lives in its own module (lesson 04a writes it before there is a
# database); it is here too, with every other dependency routes declare.
__all__ = [
    "Pagination",
    "PaginationDep",
    "SessionDep",
    "SettingsDep",
    "UserRepoDep",
    "get_app_settings",
    "get_pagination",
    "get_session",
    "get_sql_user_repo",
]


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request, closed when the response is sent."""
    with request.app.state.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_sql_user_repo(session: SessionDep) -> UserRepository:
    """User storage in the database, through this request's session."""
    return SqlUserRepository(session)


UserRepoDep = Annotated[UserRepository, Depends(get_sql_user_repo)]
