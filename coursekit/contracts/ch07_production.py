"""Chapter 07, production: a cache and a login limit in Redis, shared by workers.

The checks talk to the app over HTTP and, beside it, to the Redis it uses
(``redis_url``): they empty it to tell a cache in Redis from a copy kept in
the process, and pause it to see that the app answers while Redis does not.
Emptying is why they need a Redis of the app's own (a course's, a grader's),
never one that holds anything else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import redis

from coursekit.contracts.expect import GIVEN, expect_json, expect_status, fail
from coursekit.contracts.registry import check
from coursekit.contracts.users import PASSWORD, create_user, new_user

#: The routes the checks set themselves up with (users come from the reference).
SETUP_TASKS = {"POST /users/": GIVEN}

#: Login attempts the limit check makes at most before it gives up on a 429:
#: any limit below this passes (the reference's default is 5 a minute).
MOST_ATTEMPTS = 30
#: How long the checks pause Redis, in milliseconds: long enough that an app
#: that waits for it is seen waiting, short enough to keep the checks quick.
PAUSE_MS = 1500
#: After a pause: time for the app to try Redis again (its circuit breaker
#: leaves a failed Redis alone for a moment).
RECOVERY = 1.5


def _redis(redis_url: str | None) -> redis.Redis:
    assert redis_url is not None  # the runner skips the check without one
    return redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)


def _emptied(redis_url: str | None) -> None:
    try:
        with _redis(redis_url) as client:
            client.flushdb()
    except redis.RedisError as error:
        fail(
            "the checks could not reach the app's Redis",
            expected=f"a Redis answering at {redis_url}",
            got=f"{type(error).__name__}: {error}",
        )


@contextmanager
def _paused(redis_url: str | None) -> Iterator[float]:
    """Redis stops answering for PAUSE_MS; yields when the pause will end."""
    client = _redis(redis_url)
    try:
        client.execute_command("CLIENT", "PAUSE", str(PAUSE_MS), "ALL")
        ends = time.monotonic() + PAUSE_MS / 1000
        yield ends
    finally:
        # Not CLIENT UNPAUSE: this connection is paused too. Wait the pause
        # out, and the app's moment of leaving Redis alone after it.
        time.sleep(max(0.0, ends - time.monotonic()) + RECOVERY)
        client.close()


def _stats(client: httpx.Client) -> tuple[dict[str, Any], str, httpx.Response]:
    response = client.get("/stats/users")
    body = expect_json(response)
    state = response.headers.get("x-cache", "").upper()
    if state not in ("HIT", "MISS"):
        fail(
            "no X-Cache header",
            expected="header X-Cache: MISS (computed) or HIT (from the cache)",
            response=response,
        )
    return body, state, response


@check(
    task="shared_cache",
    points=2,
    hint="Keep the statistics in Redis: `SET key json PX ttl_ms` after a miss, "
    "`GET key` first; the Redis URL comes from the settings (`REDIS_URL`).",
)
def stats_kept_in_redis(client: httpx.Client, redis_url: str | None = None) -> None:
    _emptied(redis_url)
    _, state, response = _stats(client)
    if state != "MISS":
        fail(
            "a HIT from an empty Redis",
            expected="X-Cache: MISS right after Redis was emptied",
            got="X-Cache: HIT: the answer was kept somewhere else",
            response=response,
        )
    with _redis(redis_url) as redis_client:
        stored = redis_client.dbsize()
    if stored == 0:
        fail(
            "the computed statistics were not stored in Redis",
            expected="a key in Redis after a MISS",
            got="Redis is still empty",
            response=response,
        )
    _, again, response = _stats(client)
    if again != "HIT":
        fail(
            "the repeat was computed again",
            expected="X-Cache: HIT on a repeat right after a MISS",
            got="X-Cache: MISS",
            response=response,
        )


@check(
    task="shared_cache",
    points=2,
    hint="Keep no copy in the process in front of Redis: each worker would "
    "answer from its own copy. Read from Redis every time.",
)
def stats_shared_not_per_worker(
    client: httpx.Client, redis_url: str | None = None
) -> None:
    _stats(client)
    _, state, _ = _stats(client)
    if state != "HIT":
        fail(
            "the statistics are not cached",
            expected="X-Cache: HIT on a repeat",
            got="X-Cache: MISS twice",
        )
    _emptied(redis_url)
    _, state, response = _stats(client)
    if state != "MISS":
        fail(
            "a HIT after Redis was emptied: the app answers from a copy of its own",
            expected="X-Cache: MISS once Redis no longer holds the entry (what "
            "every other worker would see)",
            got="X-Cache: HIT",
            response=response,
        )


@check(
    task="redis_down",
    points=2,
    hint="Give the Redis client short timeouts (`socket_timeout`, "
    "`socket_connect_timeout`) and compute the value when Redis fails: the "
    "service answers, only more slowly.",
)
def stats_answer_without_redis(
    client: httpx.Client, redis_url: str | None = None
) -> None:
    _stats(client)  # an entry in Redis: an app that waits gets it once it answers
    with _paused(redis_url) as ends:
        _, state, response = _stats(client)
        waited = time.monotonic() >= ends
    if state != "MISS" or waited:
        fail(
            "the app waited for a Redis that did not answer",
            expected=f"a computed answer (X-Cache: MISS) while Redis is paused "
            f"for {PAUSE_MS} ms",
            got="an answer only once Redis answered again"
            if waited
            else f"X-Cache: {state}",
            response=response,
        )


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/token", data={"username": email, "password": password})


def _until_limited(client: httpx.Client, email: str) -> tuple[int, httpx.Response]:
    """Wrong passwords until a 429: (how many were answered before, the 429)."""
    for answered in range(MOST_ATTEMPTS):
        response = _login(client, email, "not-the-password")
        if response.status_code == 429:
            return answered, response
        expect_status(response, 401)
    fail(
        f"no limit on login attempts: {MOST_ATTEMPTS} wrong passwords in a row "
        "were all answered",
        expected="429 Too Many Requests once the attempts of a minute are used up",
        response=response,
    )


@check(
    task="login_limit",
    points=3,
    hint="Count attempts per client address and username in Redis (`INCR`, "
    "with `EXPIRE` for the window) before checking the password; past the "
    'limit raise HTTPException(429, headers={"Retry-After": seconds}).',
)
def login_429_after_limit(client: httpx.Client, redis_url: str | None = None) -> None:
    _emptied(redis_url)
    user = create_user(client, new_user("limited"))
    answered, response = _until_limited(client, user["email"])
    if answered < 2:
        fail(
            f"a 429 after {answered} attempt(s): one typo locks a user out",
            expected="a few attempts answered (401) before the 429",
            response=response,
        )
    retry_after = response.headers.get("retry-after", "")
    if not retry_after.isdigit() or not 1 <= int(retry_after) <= 60:
        fail(
            "the 429 does not say when to try again",
            expected="header Retry-After: seconds until the window ends (1 to 60)",
            got=f"Retry-After: {retry_after!r}" if retry_after else "no Retry-After",
            response=response,
        )
    body = expect_json(response, 429)
    if not isinstance(body, dict) or not isinstance(body.get("detail"), str):
        fail(
            "the 429 has no detail",
            expected='{"detail": "Too many login attempts ..."}',
            response=response,
        )


@check(
    task="login_limit",
    points=1,
    hint="Key the counter by the username too, not the address alone: one "
    "user's typos must not lock out everyone behind the same address.",
)
def login_limit_per_account(client: httpx.Client, redis_url: str | None = None) -> None:
    _emptied(redis_url)
    first = create_user(client, new_user("locked"))
    other = create_user(client, new_user("other"))
    _until_limited(client, first["email"])
    response = _login(client, other["email"], PASSWORD)
    if response.status_code == 429:
        fail(
            "another account from the same address is refused too",
            expected="200 with a token for the other account",
            response=response,
        )
    expect_status(response, 200)


@check(
    task="login_limit",
    points=2,
    hint="Keep the counts in Redis, not in the process: with several workers "
    "each would count its own share, and the limit would multiply.",
)
def login_limit_in_redis(client: httpx.Client, redis_url: str | None = None) -> None:
    _emptied(redis_url)
    user = create_user(client, new_user("counted"))
    _until_limited(client, user["email"])
    _emptied(redis_url)
    response = _login(client, user["email"], PASSWORD)
    if response.status_code == 429:
        fail(
            "still refused after Redis was emptied: the count is kept elsewhere",
            expected="200: the attempts are counted in Redis, which the workers share",
            response=response,
        )
    expect_status(response, 200)


@check(
    task="redis_down",
    points=1,
    hint="When Redis does not answer, let the login through (fail open) after "
    "a short timeout: an outage of Redis must not lock every user out.",
)
def login_without_redis(client: httpx.Client, redis_url: str | None = None) -> None:
    _emptied(redis_url)
    user = create_user(client, new_user("outage"))
    # Limited first: while Redis is out, even this account gets through (an
    # app without a limit would pass the rest of this check for nothing).
    _until_limited(client, user["email"])
    with _paused(redis_url) as ends:
        response = _login(client, user["email"], PASSWORD)
        waited = time.monotonic() >= ends
    if waited:
        fail(
            "the login waited for a Redis that did not answer",
            expected=f"an answer while Redis is paused for {PAUSE_MS} ms",
            response=response,
        )
    expect_status(response, 200)
