import threading
import time

import pytest

from course_app.cache import TTLCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_miss_then_hit_until_the_ttl_passes() -> None:
    clock = FakeClock()
    cache: TTLCache[int] = TTLCache(5, clock=clock)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("k", compute) == (1, False)
    clock.now += 4.9
    assert cache.get_or_compute("k", compute) == (1, True)
    clock.now += 0.1
    assert cache.get_or_compute("k", compute) == (2, False)
    assert cache.get_or_compute("other", compute) == (3, False)
    assert len(calls) == 3


def test_zero_ttl_never_hits() -> None:
    cache: TTLCache[str] = TTLCache(0, clock=FakeClock())
    assert cache.get_or_compute("k", lambda: "a") == ("a", False)
    assert cache.get_or_compute("k", lambda: "b") == ("b", False)


def test_clear() -> None:
    cache: TTLCache[str] = TTLCache(60)
    cache.get_or_compute("k", lambda: "a")
    cache.clear()
    assert cache.get_or_compute("k", lambda: "b") == ("b", False)


def test_a_failed_computation_is_not_cached() -> None:
    cache: TTLCache[str] = TTLCache(60)

    def fail() -> str:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: "ok") == ("ok", False)


def test_concurrent_misses_compute_once() -> None:
    cache: TTLCache[int] = TTLCache(60)
    calls: list[int] = []
    start = threading.Barrier(8)
    results: list[tuple[int, bool]] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.02)  # long enough for the other threads to pile up
        return 42

    def worker() -> None:
        start.wait()
        results.append(cache.get_or_compute("k", compute))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(results) == [(42, False)] + [(42, True)] * 7
