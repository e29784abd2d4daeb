"""Fixtures for the course_app tests: apps on a temporary SQLite file."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from course_app import passwords
from course_app.config import Settings, get_settings
from course_app.main import create_app

SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No setting leaks in from the environment of the test run."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, with parameters cheap enough to hash in every test.

    The real parameters cost ~0.05 s a hash; test_passwords checks them.
    """
    hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    monkeypatch.setattr(passwords, "password_hash", hasher)
    monkeypatch.setattr(passwords, "DUMMY_HASH", hasher.hash("dummy password"))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key=SECRET_KEY)


@pytest.fixture
def make_client(
    settings: Settings, fast_hashing: None
) -> Iterator[Callable[..., TestClient]]:
    """Build `create_app(upto)` and enter a TestClient, so lifespan runs."""
    with ExitStack() as stack:

        def make(upto: int = 6, app_settings: Settings | None = None) -> TestClient:
            app = create_app(upto, settings=app_settings or settings)
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client of the full system (chapter 6)."""
    return make_client(6)


@pytest.fixture
def signup() -> Callable[..., dict[str, Any]]:
    """Create a user through the API; returns the response body."""

    def create(
        client: TestClient,
        email: str = "ada@example.com",
        name: str = "Ada",
        password: str = PASSWORD,
    ) -> dict[str, Any]:
        response = client.post(
            "/users/", json={"name": name, "email": email, "password": password}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return create
