"""A small in-process cache whose entries expire after a fixed time."""

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    value: T
    expires_at: float


class TTLCache(Generic[T]):
    """Values computed on demand and kept for `ttl` seconds.

    Safe to share between threads. The cache is per process: with several
    workers, each has its own copy and its own misses.
    """

    def __init__(
        self, ttl: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> tuple[T, bool]:
        """The cached value for `key`, computing it if missing or expired.

        Returns `(value, hit)`, where `hit` says whether it came from the
        cache.
        """
        # The lock is held while computing, so that concurrent misses wait
        # for one computation instead of all hitting the database at once.
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._clock() < entry.expires_at:
                return entry.value, True
            value = compute()
            self._entries[key] = _Entry(value, self._clock() + self.ttl)
            return value, False

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
