"""Chapter 7: a cache in Redis that every worker shares; entries expire after a time."""

import re
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import redis
from pydantic import TypeAdapter, ValidationError

from .redis_client import CircuitBreaker, address_of

T = TypeVar("T")

# SCAN's MATCH is a glob: a prefix holding one of these must escape it.
_GLOB_SPECIAL = re.compile(r"[*?\[\]\\]")


class SharedTTLCache(Generic[T]):
    """Values computed on demand and kept in Redis for `ttl` seconds.

    The interface of `course_app.cache.TTLCache`, so that a route using one
    works with the other; but where each worker has its own `TTLCache`, every
    worker (and every app) given the same Redis and `prefix` shares these
    entries: a value one worker computed is a hit in all the others.

    Values are stored as JSON (validated back into `type_` when read), with
    `SET key value PX ttl`: Redis itself forgets them when they expire.
    When Redis is down or slow, values are computed and returned as misses:
    the service answers, only more slowly.
    """

    def __init__(
        self,
        client: redis.Redis,
        ttl: float,
        *,
        type_: type[T],
        prefix: str,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.ttl = ttl
        self.prefix = prefix
        self._redis = client
        self._adapter = TypeAdapter(type_)
        self.breaker = breaker or CircuitBreaker(address_of(client), bypassed="cache")

    def key(self, key: Hashable) -> str:
        """The Redis key that holds the entry for `key`."""
        return f"{self.prefix}{key}"

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> tuple[T, bool]:
        """The cached value for `key`, computing it if missing or expired.

        Returns `(value, hit)`, where `hit` says whether it came from the
        cache. Two workers that miss at the same time both compute; with a
        TTL of seconds, that costs one query more, not a lock across workers.
        """
        name = self.key(key)
        if self.breaker.should_try():
            try:
                stored = self._redis.get(name)
            except redis.RedisError as error:
                self.breaker.failed(error)
            else:
                self.breaker.succeeded()
                if stored is not None:
                    try:
                        return self._adapter.validate_json(stored), True
                    except ValidationError:
                        pass  # written by another version of the code: replace it
                value = compute()
                self._store(name, value)
                return value, False
        return compute(), False

    def _store(self, name: str, value: T) -> None:
        milliseconds = round(self.ttl * 1000)
        if milliseconds <= 0:  # a TTL of 0 caches nothing; Redis refuses PX 0
            return
        try:
            self._redis.set(name, self._adapter.dump_json(value), px=milliseconds)
        except redis.RedisError as error:
            self.breaker.failed(error)

    def clear(self) -> None:
        """Forget every entry under this cache's prefix (in every worker)."""
        if not self.breaker.should_try():
            return
        try:
            pattern = _GLOB_SPECIAL.sub(r"\\\g<0>", self.prefix) + "*"
            names = list(self._redis.scan_iter(match=pattern, count=500))
            if names:
                self._redis.unlink(*names)
        except redis.RedisError as error:
            self.breaker.failed(error)
        else:
            self.breaker.succeeded()
