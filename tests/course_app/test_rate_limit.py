"""Chapter 7's login limiter in a real Redis, shared by two apps as by workers."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from course_app.config import Settings
from course_app.main import create_app
from course_app.rate_limit import LoginRateLimiter
from coursekit.services import redis as redis_service
from tests.servers import start_or_skip

LIMIT = 3
EMAIL = "ada@example.com"
PASSWORD = "correct horse-battery"


@pytest.fixture
def redis_server() -> Iterator[redis_service.RedisServer]:
    with start_or_skip(redis_service.redis) as server:
        yield server


@pytest.fixture
def worker(
    settings: Settings, redis_server: redis_service.RedisServer, fast_hashing: None
) -> Iterator[Callable[..., TestClient]]:
    """A client of a new `create_app(upto=7)` on the shared database and Redis,
    connecting from `address`."""
    with ExitStack() as stack:

        def start(address: str = "198.51.100.1", **changes: Any) -> TestClient:
            shared = settings.model_copy(
                update={
                    "redis_url": redis_server.url,
                    "login_attempts_per_minute": LIMIT,
                }
                | changes
            )
            app = create_app(7, settings=shared)
            return stack.enter_context(TestClient(app, client=(address, 50000)))

        yield start


def login(client: TestClient, username: str = EMAIL, password: str = PASSWORD) -> Any:
    return client.post("/token", data={"username": username, "password": password})


def test_more_than_the_limit_is_429_with_retry_after(
    worker: Callable[..., TestClient], signup: Callable[..., Any]
) -> None:
    client = worker()
    signup(client, email=EMAIL, password=PASSWORD)
    statuses = [login(client).status_code, login(client, password="wrong").status_code]
    statuses.append(login(client).status_code)
    assert statuses == [200, 401, 200]  # successful logins count too
    refused = login(client)  # the right password, but one attempt too many
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json() == {
        "detail": "Too many login attempts: at most 3 a minute for this account "
        f"from this address. Try again in {refused.headers['Retry-After']} s."
    }
    assert login(client, password="wrong").status_code == 429


def test_counted_per_address_and_username_together(
    worker: Callable[..., TestClient], signup: Callable[..., Any]
) -> None:
    here, elsewhere = worker("198.51.100.1"), worker("203.0.113.9")
    signup(here, email=EMAIL, password=PASSWORD)
    signup(here, email="alan@example.org", password=PASSWORD)
    for _ in range(LIMIT):
        assert login(here, password="wrong").status_code == 401
    assert login(here).status_code == 429
    # The same user elsewhere, another user here: each has a window of its own.
    assert login(elsewhere).status_code == 200
    assert login(here, "alan@example.org").status_code == 200
    # The username as typed differently is the same account.
    assert login(here, "  ADA@Example.com ").status_code == 429


def test_shared_by_two_workers(
    worker: Callable[..., TestClient], signup: Callable[..., Any]
) -> None:
    first, second = worker(), worker()
    signup(first, email=EMAIL, password=PASSWORD)
    assert login(first, password="wrong").status_code == 401
    assert login(second, password="wrong").status_code == 401
    assert login(first, password="wrong").status_code == 401
    assert login(second).status_code == 429


def test_a_new_window_lets_the_client_in_again(
    worker: Callable[..., TestClient], signup: Callable[..., Any]
) -> None:
    client = worker()
    signup(client, email=EMAIL, password=PASSWORD)
    limiter: LoginRateLimiter = client.app.state.login_limiter  # type: ignore[attr-defined]
    limiter.window = 1  # a short window, not a minute of waiting
    for _ in range(LIMIT):
        assert login(client, password="wrong").status_code == 401
    refused = login(client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    deadline = time.monotonic() + 10  # a limit that catches a window that never ends
    while login(client).status_code == 429:
        assert time.monotonic() < deadline, "still refused 10 s after a 1 s window"
        time.sleep(0.1)


def test_redis_down_logins_still_work_with_one_warning(
    worker: Callable[..., TestClient],
    signup: Callable[..., Any],
    redis_server: redis_service.RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = worker()
    signup(client, email=EMAIL, password=PASSWORD)
    redis_server.stop()
    caplog.set_level(logging.WARNING, logger="course_app.redis_client")
    # Fail open: more logins than the limit, all let through to the password.
    assert [login(client).status_code for _ in range(3 * LIMIT)] == [200] * 3 * LIMIT
    assert login(client, password="wrong").status_code == 401
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].endswith("; the login limit is bypassed until it answers")

    redis_server.start()
    deadline = time.monotonic() + 10  # a limit that catches a hang
    while login(client).status_code != 429:
        assert time.monotonic() < deadline, "no limit within 10 s of Redis coming back"
        time.sleep(0.05)


def test_without_redis_url_logins_are_not_limited(
    make_client: Callable[..., TestClient], signup: Callable[..., Any]
) -> None:
    client = make_client(7)
    signup(client, email=EMAIL, password=PASSWORD)
    assert [login(client).status_code for _ in range(10)] == [200] * 10
    assert (
        "429"
        not in client.get("/openapi.json").json()["paths"]["/token"]["post"][
            "responses"
        ]
    )


def test_openapi_documents_the_429(worker: Callable[..., TestClient]) -> None:
    responses = (
        worker().get("/openapi.json").json()["paths"]["/token"]["post"]["responses"]
    )
    assert set(responses) == {"200", "401", "422", "429"}
    assert "Retry-After" in responses["429"]["headers"]


def test_keys_hold_no_email_address(redis_server: redis_service.RedisServer) -> None:
    with redis_server.client() as client:
        limiter = LoginRateLimiter(client, 2, prefix="t:")
        assert limiter.hit("192.0.2.1", EMAIL) is None
        [key] = client.keys("*")
        assert key.startswith(b"t:")
        assert b"ada" not in key
        assert 0 < client.ttl(key) <= 60
