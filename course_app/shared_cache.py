"""Chapter 7: a cache in Redis that every worker shares; entries expire after a time."""

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import redis
from pydantic import TypeAdapter, ValidationError

from .redis_client import CircuitBreaker, address_of

T = TypeVar("T")


class SharedTTLCache(Generic[T]):
    """Values computed on demand and kept in Redis for `ttl` seconds."""

    # `get_or_compute` works as chapter 6's `TTLCache` does, but every worker
    # (and every app) given the same Redis and `prefix` shares the entries.
    # While Redis is down, values are computed every time.

    def __init__(
        self, client: redis.Redis, ttl: float, *, type_: type[T], prefix: str
    ) -> None:
        self.ttl = ttl
        self.prefix = prefix
        self._redis = client
        self._adapter = TypeAdapter(type_)  # the values, as JSON
        self.breaker = CircuitBreaker(address_of(client), bypassed="cache")
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> tuple[T, bool]:
        """The cached value for `key` and True, or `compute()`'s and False."""
        name = f"{self.prefix}{key}"
        found = self._get(name)
        if found is not None:
            return found, True
        # One computation at a time in this worker, as in chapter 6: the
        # threads that missed with it wait, then find its value in Redis.
        with self._lock:
            found = self._get(name)
            if found is not None:
                return found, True
            value = compute()
            self._store(name, value)
            return value, False

    def _get(self, name: str) -> T | None:
        if not self.breaker.should_try():
            return None
        try:
            stored = self._redis.get(name)
        except redis.RedisError as error:
            self.breaker.failed(error)
            return None
        self.breaker.succeeded()
        try:
            return None if stored is None else self._adapter.validate_json(stored)
        except ValidationError:
            return None  # written by another version of the code: replace it

    def _store(self, name: str, value: T) -> None:
        milliseconds = round(self.ttl * 1000)
        if milliseconds <= 0 or self.breaker.down:
            return  # a TTL of 0 caches nothing (and Redis refuses PX 0)
        try:
            # Redis forgets the entry after `ttl`, for every worker at once.
            self._redis.set(name, self._adapter.dump_json(value), px=milliseconds)
        except redis.RedisError as error:
            self.breaker.failed(error)
