"""Chapter 7: a limit on login attempts a minute, counted in Redis for every worker."""

import hashlib
import math
from typing import Annotated, Any

import redis
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from .redis_client import CircuitBreaker, address_of
from .schemas import Message

#: The window the attempts are counted in, in seconds.
WINDOW_SECONDS = 60

#: What the login route may answer besides its own responses, for OpenAPI.
RATE_LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Message,
        "description": "Too many login attempts; try again after `Retry-After` seconds",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the current window ends",
                "schema": {"type": "integer"},
            }
        },
    }
}


class LoginRateLimiter:
    """A fixed-window limit on login attempts, shared through Redis.

    Attempts are counted per client address and username together, in
    windows of `window` seconds that start at the first attempt: the
    `limit + 1`-th attempt within a window is refused until it ends. Every
    attempt counts, the successful ones too: that is what a fixed window is,
    and a user who logs in five times a minute is rare enough.

    Why the pair: counting per username alone would let anyone lock a
    victim out of their account by failing to log in as them; per address
    alone would lock out everyone behind one NAT when one of them mistypes.
    Per pair, guessing one account's password from one address is slowed to
    `limit` guesses a minute, and nobody else is affected.
    """

    def __init__(
        self,
        client: redis.Redis,
        limit: int,
        *,
        prefix: str,
        window: int = WINDOW_SECONDS,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.limit = limit
        self.window = window
        self.prefix = prefix
        self._redis = client
        self.breaker = breaker or CircuitBreaker(
            address_of(client), bypassed="login limit"
        )

    def key(self, address: str, username: str) -> str:
        """The Redis key counting the attempts of `username` from `address`."""
        # The username as users type it varies in case and spaces; and only a
        # digest goes to Redis, so it holds no e-mail addresses and no key
        # grows with what a client sends.
        normalized = username.strip().casefold()
        digest = hashlib.sha256(f"{address}\0{normalized}".encode()).hexdigest()
        return f"{self.prefix}{digest[:32]}"

    def hit(self, address: str, username: str) -> int | None:
        """Count an attempt; None if it is allowed, else the seconds to wait.

        When Redis does not answer, the attempt is allowed (see the comment
        in the body).
        """
        if not self.breaker.should_try():
            return None
        name = self.key(address, username)
        try:
            # One transaction, one round trip. SET NX EX starts the window
            # with the first attempt (later attempts do not move its end);
            # INCR keeps the expiry. INCR then EXPIRE NX would do the same
            # on Redis 7 only, and a separate EXPIRE could be lost between
            # two commands and leave a counter that never expires.
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(name, 0, ex=self.window, nx=True)
            pipe.incr(name)
            pipe.pttl(name)
            _, attempts, milliseconds_left = pipe.execute()
        except redis.RedisError as error:
            # Fail open: a Redis outage must not lock every user out of the
            # service. Passwords are still checked (and hashed slowly); what
            # is lost for a while is only the brake on guessing them.
            self.breaker.failed(error)
            return None
        self.breaker.succeeded()
        if attempts <= self.limit:
            return None
        return max(1, math.ceil(milliseconds_left / 1000))


def client_address(request: Request) -> str:
    """The address of the client, as the server saw it.

    Behind nginx that is nginx's own address, unless uvicorn is told to
    trust its `X-Forwarded-For` (`--forwarded-allow-ips`); then it is the
    client's.
    """
    return request.client.host if request.client is not None else "unknown"


def limit_login_attempts(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> None:
    """Refuse a login with 429 and `Retry-After` once its window is used up.

    A dependency of the login route, run before the password is checked, so
    that a refused attempt costs no password hash. It gets the same form as
    the route (FastAPI solves the dependency once per request).
    """
    limiter: LoginRateLimiter = request.app.state.login_limiter
    wait = limiter.hit(client_address(request), form.username)
    if wait is not None:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=(
                f"Too many login attempts: at most {limiter.limit} a minute for "
                f"this account from this address. Try again in {wait} s."
            ),
            headers={"Retry-After": str(wait)},
        )
