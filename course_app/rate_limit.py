"""Chapter 7: a limit on login attempts a minute, counted in Redis for every worker."""

import hashlib
import math
from typing import Annotated, Any

import redis
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from .redis_client import CircuitBreaker, address_of
from .schemas import Message

#: The window the attempts are counted in, in seconds.
WINDOW_SECONDS = 60

#: The login route's 429, for OpenAPI.
RATE_LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Message,
        "description": "Too many login attempts; try again after `Retry-After` seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}


class LoginRateLimiter:
    """At most `limit` login attempts a minute for one address and username."""

    # A fixed window: it starts at the first attempt; every attempt counts,
    # the successful ones too.

    def __init__(self, client: redis.Redis, limit: int, *, prefix: str) -> None:
        self.limit = limit
        self.window = WINDOW_SECONDS
        self.prefix = prefix
        self._redis = client
        self.breaker = CircuitBreaker(address_of(client), bypassed="login limit")

    def key(self, address: str, username: str) -> str:
        """The Redis key counting the attempts of `username` from `address`."""
        # A digest: Redis holds no e-mail addresses, and no key grows with
        # what a client sends. The same username however it is typed.
        normalized = username.strip().casefold()
        digest = hashlib.sha256(f"{address}\0{normalized}".encode()).hexdigest()
        return f"{self.prefix}{digest[:32]}"

    def hit(self, address: str, username: str) -> int | None:
        """Count an attempt; None if it is allowed, else the seconds to wait."""
        if not self.breaker.should_try():
            return None
        name = self.key(address, username)
        try:
            # One transaction, one round trip. SET NX EX starts the window
            # (later attempts do not move its end); INCR keeps the expiry.
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(name, 0, ex=self.window, nx=True)
            pipe.incr(name)
            pipe.pttl(name)
            _, attempts, milliseconds_left = pipe.execute()
        except redis.RedisError as error:
            # Fail open: a Redis outage must not lock every user out.
            # Passwords are still checked; only the brake on guessing is off.
            self.breaker.failed(error)
            return None
        self.breaker.succeeded()
        if attempts <= self.limit:
            return None
        return max(1, math.ceil(milliseconds_left / 1000))


def limit_login_attempts(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> None:
    """Refuse a login with 429 and `Retry-After` once its window is used up."""
    # A dependency of the login route: it runs before the password is
    # checked, so a refused attempt costs no password hash. (FastAPI reads
    # the form once for both.)
    limiter: LoginRateLimiter = request.app.state.login_limiter
    # Behind nginx this is nginx's address, unless uvicorn trusts its
    # X-Forwarded-For (--forwarded-allow-ips).
    address = request.client.host if request.client is not None else "unknown"
    wait = limiter.hit(address, form.username)
    if wait is None:
        return
    detail = f"Too many login attempts: at most {limiter.limit} a minute for this "
    detail += f"account from this address. Try again in {wait} s."
    raise HTTPException(429, detail, headers={"Retry-After": str(wait)})
