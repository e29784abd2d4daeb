"""Chapter 7: the connection to Redis, and what to do while Redis does not answer.

The shared cache and the login limiter use Redis for speed and for sharing
between workers, not for data that must not be lost: when Redis is down the
service keeps answering without them. `CircuitBreaker` makes that cheap
(after a failure Redis is left alone for a second, instead of every request
waiting for its own timeout) and quiet (one line when an outage starts, one
when it ends, not one per request).
"""

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

#: Seconds to wait for Redis to connect or to answer. Redis answers within a
#: millisecond on the same network; a request should not wait long for one
#: that is stuck.
SOCKET_TIMEOUT = 0.25
#: Seconds to leave Redis alone after it failed to answer.
RETRY_AFTER = 1.0


def connect_redis(url: str) -> redis.Redis:
    """A client of the Redis at `url`, with short timeouts and no retries.

    It connects on first use, so building the app does not need Redis up.
    redis-py retries a failed command three times by default, with back-off:
    the circuit breaker decides when to try again instead.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )


def address_of(client: redis.Redis) -> str:
    """Where `client` connects, for a log line: no user name, no password."""
    kwargs = client.get_connection_kwargs()
    if "path" in kwargs:  # a Unix socket
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"


class CircuitBreaker:
    """Tells when to call Redis, and logs when it stops and starts answering.

    Closed (Redis answers): every call goes through. After a failure it is
    open: calls are skipped for `retry_after` seconds, then one call (only
    one, whichever thread comes first) tries Redis again. `where` (see
    `address_of`) and `bypassed` (what goes without Redis) name them in the
    log. The outage is
    logged once, as a warning, when it starts, and once, as info, when
    Redis answers again. Safe to share between threads.
    """

    def __init__(
        self,
        where: str,
        *,
        bypassed: str,
        retry_after: float = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = where
        self.bypassed = bypassed
        self.retry_after = retry_after
        self.clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._next_try = 0.0

    @property
    def down(self) -> bool:
        """Whether the last call to Redis failed."""
        return self._down

    def should_try(self) -> bool:
        """Whether to call Redis now; if not, do without it."""
        with self._lock:
            if not self._down:
                return True
            now = self.clock()
            if now < self._next_try:
                return False
            # This caller probes; the others keep skipping until it is done.
            self._next_try = now + self.retry_after
            return True

    def failed(self, error: Exception) -> None:
        """Record that a call to Redis failed with `error`."""
        with self._lock:
            self._next_try = self.clock() + self.retry_after
            if self._down:
                return
            self._down = True
        logger.warning(
            "Redis at %s is not answering (%s); the %s is bypassed until it answers",
            self.where,
            error,
            self.bypassed,
        )

    def succeeded(self) -> None:
        """Record that a call to Redis succeeded."""
        if not self._down:  # the usual case, without taking the lock
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        logger.info(
            "Redis at %s answers again; the %s is back", self.where, self.bypassed
        )
