from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from course_app.config import Settings
from course_app.db import create_db_engine, create_session_factory
from course_app.deps import get_session


def test_health(make_client: Callable[..., TestClient]) -> None:
    response = make_client(4).get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_unreachable_database(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(4)
    # SQLite cannot open a file in a directory that does not exist.
    missing = tmp_path / "no-such-dir" / "app.db"
    engine = create_db_engine(Settings(database_url=f"sqlite:///{missing}"))

    def broken_session() -> Iterator[Session]:
        with create_session_factory(engine)() as session:
            yield session

    cast(FastAPI, client.app).dependency_overrides[get_session] = broken_session
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"detail": "Database unavailable"}
    engine.dispose()
