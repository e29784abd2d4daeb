"""Dependencies, each with an `Annotated` alias to declare it in one word.

Routes declare what they need (`session: SessionDep`) and FastAPI provides
it per request; tests swap any of them with `app.dependency_overrides`.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from course_app import security
from course_app.cache import TTLCache
from course_app.config import Settings
from course_app.repositories import (
    MAX_ID,
    SqlUserRepository,
    UserRecord,
    UserRepository,
)
from course_app.schemas import UserStats


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


def get_memory_user_repo(request: Request) -> UserRepository:
    """The app's in-memory user storage (chapters 2-3)."""
    repo: UserRepository = request.app.state.user_repo
    return repo


def get_sql_user_repo(session: SessionDep) -> UserRepository:
    """User storage in the database, through this request's session."""
    return SqlUserRepository(session)


UserRepoDep = Annotated[UserRepository, Depends(get_sql_user_repo)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

TokenDep = Annotated[str, Depends(oauth2_scheme)]


def get_current_user(
    token: TokenDep, repo: UserRepoDep, settings: SettingsDep
) -> UserRecord:
    """The user the bearer token was issued to; 401 if it is not valid."""
    credentials_error = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        subject = security.decode_access_token(token, secret_key=settings.signing_key)
    except jwt.InvalidTokenError:
        raise credentials_error from None
    # int() alone would also take " 7", "+7", "7_0" and non-ASCII digits.
    if not (subject.isascii() and subject.isdecimal() and len(subject) <= 19):
        raise credentials_error
    user = repo.get(int(subject))
    if user is None:  # deleted since the token was issued
        raise credentials_error
    return user


CurrentUserDep = Annotated[UserRecord, Depends(get_current_user)]


def get_stats_cache(request: Request) -> TTLCache[UserStats]:
    """The app's cache of user statistics."""
    cache: TTLCache[UserStats] = request.app.state.stats_cache
    return cache


StatsCacheDep = Annotated[TTLCache[UserStats], Depends(get_stats_cache)]
