"""The three servers of ``make bench`` section 1 answer alike, byte for byte.

A benchmark comparing them only means something if they do the same work:
same status, same JSON body, same content type, for every endpoint loaded.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from bench.apps import SEED_USER, raw_asgi, reference, seed_database, starlette_app
from course_app.config import Settings
from course_app.db import create_db_engine, create_session_factory

ASGIApp = Any


@pytest.fixture
def database(tmp_path: Path) -> tuple[str, int]:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    return url, seed_database(url)


@pytest.fixture
def apps(database: tuple[str, int]) -> Iterator[dict[str, ASGIApp]]:
    settings = Settings(database_url=database[0])
    engine = create_db_engine(settings)
    factory: sessionmaker[Session] = create_session_factory(engine)
    fastapi_app = reference.make_app(settings)
    try:
        yield {
            "raw ASGI": raw_asgi.make_app(engine, factory),
            "Starlette": starlette_app.make_app(engine, factory),
            "course_app": fastapi_app,
        }
    finally:
        engine.dispose()
        fastapi_app.state.engine.dispose()


def _get(app: ASGIApp, path: str) -> httpx.Response:
    # No lifespan: the apps only dispose engines, which the fixture does.
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test"
        ) as client:
            return await client.get(path)

    return anyio.run(call)


@pytest.mark.parametrize(
    "path",
    ["/", "/items/42", "/items/42?q=hello", "/items/-7?q=caf%C3%A9&q=last", "/users/1"],
)
def test_same_answer_everywhere(apps: dict[str, ASGIApp], path: str) -> None:
    answers = {name: _get(app, path) for name, app in apps.items()}
    expected = answers.pop("course_app")
    assert expected.status_code == 200, expected.text
    for name, answer in answers.items():
        assert (answer.status_code, answer.content) == (
            expected.status_code,
            expected.content,
        ), name
        assert answer.headers["content-type"] == expected.headers["content-type"]


def test_the_database_read_reads_the_seeded_user(
    apps: dict[str, ASGIApp], database: tuple[str, int]
) -> None:
    _, user_id = database
    for name, app in apps.items():
        answer = _get(app, f"/users/{user_id}")
        assert answer.json() == {"id": user_id, **SEED_USER}, name
        missing = _get(app, f"/users/{user_id + 1}")
        assert missing.status_code == 404, name
        assert missing.json() == {"detail": "User not found"}, name
