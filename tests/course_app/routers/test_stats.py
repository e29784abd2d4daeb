from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from course_app.cache import TTLCache
from course_app.config import Settings
from course_app.models import User
from course_app.routers.stats import EmailDomain
from course_app.sql_repository import SqlUserRepository

HASH = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"


def _app(client: TestClient) -> FastAPI:
    return cast(FastAPI, client.app)


def seed(client: TestClient, emails: list[str]) -> None:
    with _app(client).state.session_factory() as session:
        repo = SqlUserRepository(session)
        for email in emails:
            repo.create(name="U", email=email, hashed_password=HASH)


@contextmanager
def count_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(client: TestClient) -> FakeClock:
    """Drive the app's stats cache with a clock the test moves."""
    fake = FakeClock()
    app = _app(client)
    app.state.stats_cache = TTLCache(app.state.settings.cache_ttl_seconds, clock=fake)
    return fake


def test_counts_by_domain_in_one_query(client: TestClient) -> None:
    seed(
        client,
        [
            "a@example.com",
            "b@example.com",
            "c@Example.COM",
            "d@test.org",
            "e@bücher.de",
        ],
    )
    with count_queries(_app(client).state.engine) as statements:
        response = client.get("/stats/users")
    assert response.status_code == 200
    assert response.json() == {
        "users": 5,
        "domains": {"example.com": 3, "bücher.de": 1, "test.org": 1},
    }
    assert len(statements) == 1
    assert "GROUP BY" in statements[0]


def test_no_users(client: TestClient) -> None:
    assert client.get("/stats/users").json() == {"users": 0, "domains": {}}


def test_cached_until_the_ttl_passes(client: TestClient, clock: FakeClock) -> None:
    seed(client, ["a@example.com"])
    first = client.get("/stats/users")
    assert first.headers["x-cache"] == "MISS"
    seed(client, ["b@example.org"])
    clock.now += 4.9
    second = client.get("/stats/users")
    assert second.headers["x-cache"] == "HIT"
    assert second.json() == first.json()  # up to 5 s stale, by design
    clock.now += 0.1
    third = client.get("/stats/users")
    assert third.headers["x-cache"] == "MISS"
    assert third.json()["users"] == 2


def test_ttl_comes_from_settings(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    client = make_client(6, settings.model_copy(update={"cache_ttl_seconds": 0}))
    assert client.get("/stats/users").headers["x-cache"] == "MISS"
    assert client.get("/stats/users").headers["x-cache"] == "MISS"


def test_each_app_has_its_own_cache(
    make_client: Callable[..., TestClient],
) -> None:
    assert make_client(6).get("/stats/users").headers["x-cache"] == "MISS"
    assert make_client(6).get("/stats/users").headers["x-cache"] == "MISS"


def test_email_domain_sql() -> None:
    query = select(EmailDomain(User.email))
    assert "split_part(users.email, '@', 2)" in str(
        query.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    )
    assert "substr(users.email, instr(users.email, '@') + 1)" in str(
        query.compile(dialect=sqlite.dialect())  # type: ignore[no-untyped-call]
    )
