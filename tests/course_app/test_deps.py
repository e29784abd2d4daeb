"""Dependencies, and swapping them with `app.dependency_overrides`."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from course_app.config import Settings
from course_app.db import create_db_engine, create_session_factory, create_tables
from course_app.deps import get_app_settings, get_session
from course_app.sql_repository import MAX_ID, SqlUserRepository


@pytest.mark.parametrize(
    ("query", "loc", "kind"),
    [
        ("skip=-1", ["query", "skip"], "greater_than_equal"),
        (f"skip={MAX_ID + 1}", ["query", "skip"], "less_than_equal"),
        ("skip=x", ["query", "skip"], "int_parsing"),
        ("limit=0", ["query", "limit"], "greater_than_equal"),
        ("limit=101", ["query", "limit"], "less_than_equal"),
        ("limit=1.5", ["query", "limit"], "int_parsing"),
    ],
)
@pytest.mark.parametrize("path", ["/items/", "/users/"])
def test_pagination_bounds(
    client: TestClient, path: str, query: str, loc: list[str], kind: str
) -> None:
    response = client.get(f"{path}?{query}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind)


@pytest.mark.parametrize("path", ["/items/", "/users/"])
def test_pagination_limits_accepted(client: TestClient, path: str) -> None:
    for query in ("skip=0&limit=1", "limit=100", f"skip={MAX_ID}"):
        assert client.get(f"{path}?{query}").status_code == 200


@pytest.fixture
def other_session(tmp_path: Path) -> Iterator[Session]:
    """A session on a second database, holding one user."""
    engine = create_db_engine(
        Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}")
    )
    create_tables(engine)
    with create_session_factory(engine)() as session:
        SqlUserRepository(session).create(
            name="Other", email="other@example.com", hashed_password="x"
        )
        yield session
    engine.dispose()


def test_overriding_the_session_swaps_the_database(
    client: TestClient,
    other_session: Session,
    signup: Callable[..., dict[str, Any]],
) -> None:
    app = cast(FastAPI, client.app)
    signup(client, email="ada@example.com")
    app.dependency_overrides[get_session] = lambda: other_session
    try:
        emails = [user["email"] for user in client.get("/users/").json()]
        assert emails == ["other@example.com"]
        assert client.get("/stats/users").json()["domains"] == {"example.com": 1}
        assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    finally:
        app.dependency_overrides.clear()
    emails = [user["email"] for user in client.get("/users/").json()]
    assert emails == ["ada@example.com"]


def test_overriding_the_settings(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    app = cast(FastAPI, client.app)
    signup(client, email="ada@example.com", password="password1")
    token = client.post(
        "/token", data={"username": "ada@example.com", "password": "password1"}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/users/me", headers=auth).status_code == 200
    app.dependency_overrides[get_app_settings] = lambda: Settings(secret_key="o" * 32)
    try:
        # The token was signed with the app's key, not the overriding one.
        assert client.get("/users/me", headers=auth).status_code == 401
    finally:
        app.dependency_overrides.clear()
