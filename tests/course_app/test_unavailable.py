"""Chapter 7: a database that does not answer is a 503 with Retry-After."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from course_app.config import Settings
from course_app.main import create_app
from course_app.unavailable import DETAIL, RETRY_AFTER_SECONDS
from coursekit.services import postgres as pg
from tests.servers import start_or_skip

SECRET_KEY = "unavailable-tests-signing-key-0123456789abcdef"


def _app(url: str, upto: int) -> FastAPI:
    settings = Settings(
        database_url=url + "?connect_timeout=2",
        secret_key=SECRET_KEY,
        db_pool_timeout=2,
    )
    return create_app(upto=upto, settings=settings)


@pytest.mark.parametrize(("upto", "expected"), [(6, 500), (7, 503)])
def test_a_stopped_database_is_a_503_from_chapter_7(
    upto: int, expected: int, caplog: pytest.LogCaptureFixture
) -> None:
    with start_or_skip(pg.postgres) as db:
        app = _app(db.url("psycopg"), upto)
        with TestClient(app, raise_server_exceptions=False) as client:
            created = client.post(
                "/users/",
                json={
                    "name": "Ada",
                    "email": "ada@example.com",
                    "password": "s3cret-pw",
                },
            )
            assert created.status_code == 201
            db.stop()
            with caplog.at_level(logging.WARNING, logger="course_app.unavailable"):
                response = client.get(f"/users/{created.json()['id']}")
            assert response.status_code == expected, response.text
            assert client.get("/health").status_code == 503
            if expected == 503:
                assert response.json() == {"detail": DETAIL}
                assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
                # One line that names the cause, no traceback.
                (record,) = caplog.records
                assert "database unavailable on GET /users/" in record.getMessage()
                assert record.exc_info is None
            db.start()
            # pool_pre_ping: the dead pooled connection is replaced.
            assert client.get(f"/users/{created.json()['id']}").status_code == 200


def test_a_bug_is_still_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only a database that does not answer becomes a 503: a mistake in SQL
    # (here a table that is not there) stays a server error.
    from sqlalchemy import text

    with start_or_skip(pg.postgres) as db:
        app = _app(db.url("psycopg"), 7)

        @app.get("/broken")
        def broken() -> None:
            with app.state.engine.connect() as connection:
                connection.execute(text("SELECT * FROM no_such_table"))

        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/broken").status_code == 500
