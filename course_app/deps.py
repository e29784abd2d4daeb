"""Chapter 4's dependencies, each with an `Annotated` alias to declare it in one word.

Routes declare what they need (`session: SessionDep`) and FastAPI provides
it per request; tests swap any of them with `app.dependency_overrides`.
Dependencies of later chapters live with what they serve: the current user
(chapter 5) in `course_app.current_user`, the stats cache (chapter 6) in
`course_app.routers.stats`.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from .config import Settings
from .repositories import UserRepository
from .sql_repository import MAX_ID, SqlUserRepository


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


@dataclass(frozen=True, slots=True)
class Pagination:
    skip: int
    limit: int


def get_pagination(
    skip: Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Rows to return.")] = 10,
) -> Pagination:
    """The `skip` and `limit` query parameters shared by list routes."""
    # `le=MAX_ID` on skip: SQL OFFSET is a 64-bit integer, a larger one is an
    # error in the database rather than an empty page.
    return Pagination(skip=skip, limit=limit)


PaginationDep = Annotated[Pagination, Depends(get_pagination)]


def get_sql_user_repo(session: SessionDep) -> UserRepository:
    """User storage in the database, through this request's session."""
    return SqlUserRepository(session)


UserRepoDep = Annotated[UserRepository, Depends(get_sql_user_repo)]
