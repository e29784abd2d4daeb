"""Chapter 7's statistics cache in a real Redis, shared by two apps as by workers."""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from course_app.config import Settings
from course_app.main import create_app
from course_app.redis_client import CircuitBreaker
from course_app.routers.stats import UserStats
from course_app.shared_cache import SharedTTLCache
from coursekit.services import redis as redis_service
from tests.servers import start_or_skip

Signup = Callable[..., dict[str, object]]


@pytest.fixture
def redis_server() -> Iterator[redis_service.RedisServer]:
    with start_or_skip(redis_service.redis) as server:
        yield server


@pytest.fixture
def worker(
    settings: Settings, redis_server: redis_service.RedisServer, fast_hashing: None
) -> Iterator[Callable[..., TestClient]]:
    """A client of a new `create_app(upto=7)` on the shared database and Redis."""
    with ExitStack() as stack:

        def start(**changes: object) -> TestClient:
            shared = settings.model_copy(
                update={"redis_url": redis_server.url, "cache_ttl_seconds": 60.0}
                | changes
            )
            return stack.enter_context(TestClient(create_app(7, settings=shared)))

        yield start


def stats(client: TestClient) -> tuple[str, dict[str, object]]:
    response = client.get("/stats/users")
    assert response.status_code == 200, response.text
    return response.headers["X-Cache"], response.json()


def outage_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "course_app.redis_client" and record.levelno == level
    ]


def test_a_miss_in_one_worker_is_a_hit_in_the_other(
    worker: Callable[..., TestClient], signup: Signup
) -> None:
    first, second = worker(), worker()
    signup(first, email="ada@example.com")
    signup(first, email="alan@example.org")
    assert stats(first) == (
        "MISS",
        {"users": 2, "domains": {"example.com": 1, "example.org": 1}},
    )
    signup(first, email="grace@example.com")
    # Cached as it was, in Redis: the other app counts nothing itself.
    assert stats(second) == (
        "HIT",
        {"users": 2, "domains": {"example.com": 1, "example.org": 1}},
    )
    assert stats(first)[0] == "HIT"


def test_entries_are_json_under_the_prefix_with_the_ttl(
    worker: Callable[..., TestClient], redis_server: redis_service.RedisServer
) -> None:
    stats(worker(redis_key_prefix="one-app:"))
    with redis_server.client() as client:
        assert client.keys("*") == [b"one-app:stats:users"]
        assert client.get("one-app:stats:users") == b'{"users":0,"domains":{}}'
        assert 50_000 < client.pttl("one-app:stats:users") <= 60_000


def test_apps_with_other_prefixes_do_not_share(
    worker: Callable[..., TestClient],
) -> None:
    assert stats(worker(redis_key_prefix="blue:"))[0] == "MISS"
    assert stats(worker(redis_key_prefix="green:"))[0] == "MISS"
    assert stats(worker(redis_key_prefix="blue:"))[0] == "HIT"


def test_an_entry_of_another_shape_is_replaced(
    worker: Callable[..., TestClient], redis_server: redis_service.RedisServer
) -> None:
    with redis_server.client() as client:
        client.set("course_app:stats:users", b'{"total": 3}')
    assert stats(worker()) == ("MISS", {"users": 0, "domains": {}})
    assert stats(worker())[0] == "HIT"


def test_redis_down_requests_answer_as_misses_with_one_warning(
    worker: Callable[..., TestClient],
    redis_server: redis_service.RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = worker(), worker()
    assert stats(first)[0] == "MISS"
    redis_server.stop()
    caplog.set_level(logging.INFO, logger="course_app.redis_client")
    for _ in range(30):
        assert stats(first) == ("MISS", {"users": 0, "domains": {}})
    [warning] = outage_lines(caplog, logging.WARNING)
    assert warning.startswith(
        f"Redis at redis://127.0.0.1:{redis_server.port}/0 is not answering ("
    )
    assert warning.endswith("); the cache is bypassed until it answers")
    assert outage_lines(caplog, logging.INFO) == []

    redis_server.start()
    # The first request after the breaker's second fills the cache again.
    deadline = time.monotonic() + 10  # a limit that catches a hang
    while stats(first)[0] == "MISS":
        assert time.monotonic() < deadline, "no hit within 10 s of Redis coming back"
        time.sleep(0.05)
    assert stats(second)[0] == "HIT"
    where = f"redis://127.0.0.1:{redis_server.port}/0"
    assert outage_lines(caplog, logging.INFO) == [
        f"Redis at {where} answers again; the cache is back"
    ]
    assert len(outage_lines(caplog, logging.WARNING)) == 1


def test_a_hung_redis_is_tried_once_a_second_not_once_a_request(
    worker: Callable[..., TestClient],
    redis_server: redis_service.RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = worker()
    cache: SharedTTLCache[UserStats] = client.app.state.stats_cache  # type: ignore[attr-defined]
    now = [100.0]
    cache.breaker.clock = lambda: now[0]
    tried = 0
    get = cache._redis.get

    def counting_get(name: str) -> object:
        nonlocal tried
        tried += 1
        return get(name)

    cache._redis.get = counting_get  # type: ignore[method-assign]
    redis_server.pause()
    caplog.set_level(logging.WARNING, logger="course_app.redis_client")
    for _ in range(20):  # within one second: only the first waits for Redis
        assert stats(client)[0] == "MISS"
    assert tried == 1
    now[0] += 1.0
    for _ in range(20):
        assert stats(client)[0] == "MISS"
    assert tried == 2
    [warning] = outage_lines(caplog, logging.WARNING)
    assert "Timeout" in warning or "timed out" in warning
    redis_server.resume()


def test_without_redis_url_each_app_has_its_own_cache_and_says_so(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="course_app.main")
    first_app = create_app(7, settings=settings)
    second_app = create_app(7, settings=settings)
    with TestClient(first_app) as first, TestClient(second_app) as second:
        assert stats(first)[0] == "MISS"
        assert stats(second)[0] == "MISS"
        assert stats(first)[0] == "HIT"
    assert first_app.state.redis is None
    notes = [r.getMessage() for r in caplog.records if r.name == "course_app.main"]
    assert (
        notes
        == [
            "REDIS_URL is not set: each worker keeps its own statistics cache and "
            "logins are not rate-limited, as in chapter 6"
        ]
        * 2
    )


def test_a_ttl_of_zero_caches_nothing(redis_server: redis_service.RedisServer) -> None:
    with redis_server.client() as client:
        cache = SharedTTLCache(client, 0, type_=int, prefix="zero:")
        assert cache.get_or_compute("a", lambda: 1) == (1, False)
        assert cache.get_or_compute("a", lambda: 2) == (2, False)
        assert client.keys("*") == []


def test_the_breaker_logs_an_outage_once_and_lets_one_probe_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    breaker = CircuitBreaker("redis://h:1/0", bypassed="thing", clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="course_app.redis_client")
    assert breaker.should_try()
    breaker.failed(ConnectionError("refused"))
    breaker.failed(ConnectionError("refused"))
    assert not breaker.should_try()
    now[0] = 0.99
    assert not breaker.should_try()
    now[0] = 1.0
    assert breaker.should_try()  # one probe ...
    assert not breaker.should_try()  # ... the others wait for it
    breaker.failed(ConnectionError("refused"))
    now[0] = 2.0
    assert breaker.should_try()
    breaker.succeeded()
    breaker.succeeded()
    assert breaker.should_try()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "Redis at redis://h:1/0 is not answering (refused); "
            "the thing is bypassed until it answers",
        ),
        ("INFO", "Redis at redis://h:1/0 answers again; the thing is back"),
    ]


def test_concurrent_misses_in_one_worker_compute_once(
    redis_server: redis_service.RedisServer,
) -> None:
    # As chapter 6's TTLCache: the threads that miss together wait for one
    # computation and get its value (from Redis) as a hit.
    from concurrent.futures import ThreadPoolExecutor

    computed = []

    def slow() -> int:
        computed.append(1)
        time.sleep(0.2)
        return 42

    with redis_server.client() as client:
        cache = SharedTTLCache(client, 60, type_=int, prefix="stampede:")
        with ThreadPoolExecutor(10) as pool:
            results = list(
                pool.map(lambda _: cache.get_or_compute("a", slow), range(10))
            )
    assert len(computed) == 1
    assert sorted(results) == [(42, False)] + [(42, True)] * 9


def test_while_redis_is_down_nothing_is_stored_or_waited_for(
    redis_server: redis_service.RedisServer,
) -> None:
    with redis_server.client() as client:
        cache = SharedTTLCache(client, 60, type_=int, prefix="down:")
        redis_server.stop()
        started = time.monotonic()
        for n in range(20):
            assert cache.get_or_compute("a", lambda n=n: n) == (n, False)
        assert cache.breaker.down
        # One failed GET (refused at once), no SET, nothing else tried.
        assert time.monotonic() - started < 5  # a limit that catches waits
