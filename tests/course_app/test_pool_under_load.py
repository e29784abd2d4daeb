"""More concurrent requests than worker threads and pooled connections.

FastAPI runs a `def` route, and then the validation of its response, in a
pool of 40 threads; the request's session is closed only after that. A
connection kept until then is held by a request that waits for a thread,
while the threads wait for connections: a deadlock that lasts until the pool
times out (fastapi/fastapi#3205). The app must give each connection back as
soon as its work is done. One pooled connection and 60 concurrent requests
make the deadlock all but certain if it can happen.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from course_app.config import Settings
from course_app.main import create_app
from coursekit.serve import LiveServer, serve

PASSWORD = "correct horse battery"
SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"

CONCURRENT = 60


@pytest.fixture
def server(tmp_path: Path, fast_hashing: None) -> Iterator[LiveServer]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'load.db'}",
        secret_key=SECRET_KEY,
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout=2,
        cache_ttl_seconds=0,
    )
    with serve(create_app(6, settings=settings), name="pool-test", show=False) as s:
        created = httpx.post(
            s.url + "/users/",
            json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        yield s


@pytest.mark.parametrize(
    "path", ["/users/1", "/users/999", "/users/?limit=5", "/health", "/stats/users"]
)
def test_every_request_is_answered_with_one_pooled_connection(
    server: LiveServer, path: str
) -> None:
    def get(_: int) -> int:
        return httpx.get(server.url + path, timeout=30).status_code

    with ThreadPoolExecutor(CONCURRENT) as pool:
        statuses = list(pool.map(get, range(CONCURRENT)))
    expected = 404 if path == "/users/999" else 200
    assert statuses == [expected] * CONCURRENT, server.logs()[-2000:]
