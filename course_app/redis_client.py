"""Chapter 7: the connection to Redis, and what to do while Redis does not answer."""

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

#: Seconds to wait for Redis to connect or to answer: it answers in well
#: under a millisecond, and a request should not wait long for one that is stuck.
SOCKET_TIMEOUT = 0.25
#: Seconds to leave Redis alone after it failed to answer.
RETRY_AFTER = 1.0


def connect_redis(url: str) -> redis.Redis:
    """A client of the Redis at `url`, with short timeouts and no retries."""
    # It connects on first use: building the app does not need Redis up.
    # Without timeouts it would wait as long as a hung Redis keeps the socket
    # open. No retries (redis-py's defaults differ between versions, with
    # back-off): the circuit breaker decides when to try again.
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )


def address_of(client: redis.Redis) -> str:
    """Where `client` connects, for a log line: no user name, no password."""
    kw = client.get_connection_kwargs()
    return kw.get("path") or f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


class CircuitBreaker:
    """Says when to call Redis, and logs once when it stops and starts answering."""

    # Closed (Redis answers), every call goes through. After a failure it is
    # open: calls are skipped for RETRY_AFTER seconds, then one caller tries
    # Redis again. Safe to share between threads.

    def __init__(
        self, where: str, *, bypassed: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.where = where  # for the log: address_of(client)
        self.bypassed = bypassed  # for the log: what goes without Redis
        self.clock = clock
        self._lock = threading.Lock()
        self.down = False  # whether the last call to Redis failed
        self._next_try = 0.0

    def should_try(self) -> bool:
        """Whether to call Redis now; if not, do without it."""
        with self._lock:
            if not self.down:
                return True
            if self.clock() < self._next_try:
                return False
            # This caller probes; the others keep skipping until it is done.
            self._next_try = self.clock() + RETRY_AFTER
            return True

    def failed(self, error: Exception) -> None:
        """Record that a call to Redis failed with `error`."""
        with self._lock:
            self._next_try = self.clock() + RETRY_AFTER
            if self.down:
                return  # already logged
            self.down = True
        what = f"Redis at {self.where} is not answering ({error}); the {self.bypassed}"
        logger.warning("%s is bypassed until it answers", what)

    def succeeded(self) -> None:
        """Record that a call to Redis succeeded."""
        if not self.down:  # the usual case, without taking the lock
            return
        with self._lock:
            was_down, self.down = self.down, False
        if was_down:  # only one of the threads that succeeded together logs
            logger.info(
                "Redis at %s answers again; the %s is back", self.where, self.bypassed
            )
