"""Chapter 06, optimization: compression, HTTP caching, an in-process cache."""

from __future__ import annotations

import random
import time
from typing import Any, NoReturn

import httpx

from coursekit.contracts.expect import (
    GIVEN,
    expect_fields,
    expect_header,
    expect_json,
    expect_status,
    fail,
    short_json,
    unique,
)
from coursekit.contracts.registry import check
from coursekit.contracts.users import PASSWORD, create_user

#: The routes the checks use to set themselves up, and the task owning each
#: (see the runner): users come from the reference system the exercise serves.
SETUP_TASKS = {"POST /users/": GIVEN}

#: The longest cache lifetime the contract accepts: CACHE_TTL_SECONDS' default.
MAX_TTL = 5.0
#: How long the expiry check waits for a MISS: a little more than MAX_TTL.
MISS_WAIT = MAX_TTL + 1.0
#: Seconds between two requests while the expiry check waits for a MISS.
POLL = 0.25
#: How many quick requests right after a MISS must be HITs: a random number,
#: so that a cache that expires after so many requests, not after a time,
#: cannot know when the check starts polling.
QUICK = (3, 12)
#: Rounds of quick requests tried before a cache that keeps expiring at once fails.
ROUNDS = 3

CATALOGUE_SIZE = 1000
CATALOGUE_FIELDS = {"id", "name", "description", "price"}
GZIP = {"Accept-Encoding": "gzip"}


def _encoding(response: httpx.Response) -> str:
    return response.headers.get("content-encoding", "identity")


@check(
    task="gzip",
    points=3,
    hint="Add `GZipMiddleware` (e.g. `minimum_size=1000, compresslevel=6`): "
    "large bodies get compressed, small ones are left alone.",
)
def large_responses_gzipped(client: httpx.Client) -> None:
    response = client.get("/catalogue", headers=GZIP)
    expect_status(response, 200)
    if _encoding(response) != "gzip":
        fail(
            "the catalogue is sent uncompressed",
            expected="Content-Encoding: gzip for a client that accepts gzip",
            got=f"Content-Encoding: {_encoding(response)}",
            response=response,
        )
    response = client.get("/", headers=GZIP)
    expect_status(response, 200)
    if _encoding(response) != "identity":
        fail(
            "a tiny response is compressed",
            expected="GET / sent as is (compressing a few bytes only costs time)",
            got=f"Content-Encoding: {_encoding(response)}",
            response=response,
        )


@check(
    task="catalogue",
    points=2,
    hint="Return 1,000 products, each exactly "
    '{"id", "name", "description", "price"}, through a response model.',
)
def catalogue_items(client: httpx.Client) -> None:
    response = client.get("/catalogue", headers=GZIP)
    body = expect_json(response)
    if not isinstance(body, list) or len(body) != CATALOGUE_SIZE:
        size = f"{len(body)} items" if isinstance(body, list) else "not a list"
        fail(
            "the catalogue does not hold 1,000 items",
            expected="a list of 1000 products",
            got=size,
            response=response,
        )
    for item in body:
        keys = set(item) if isinstance(item, dict) else set()
        if keys != CATALOGUE_FIELDS:
            fail(
                "a product has the wrong fields",
                expected="every product with exactly id, name, description, price",
                got=f"a product {short_json(item, 100)}",
                response=response,
            )


def _max_age(cache_control: str) -> int | None:
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return int(value)
    return None


@check(
    task="http_caching",
    points=2,
    hint="Set `ETag` (a hash of the body, in quotes) and `Cache-Control: "
    "public, max-age=60` on the catalogue response.",
)
def catalogue_cache_headers(client: httpx.Client) -> None:
    response = client.get("/catalogue")
    expect_status(response, 200)
    etag = expect_header(response, "etag")
    if not etag.strip():
        fail("an empty ETag", expected="a non-empty ETag", response=response)
    cache_control = expect_header(response, "cache-control")
    directives = {d.strip().lower() for d in cache_control.split(",")}
    if "public" not in directives or _max_age(cache_control) != 60:
        fail(
            "wrong Cache-Control",
            expected="Cache-Control: public, max-age=60",
            got=f"Cache-Control: {cache_control}",
            response=response,
        )


@check(
    task="http_caching",
    points=2,
    hint="Compare the request's `If-None-Match` with the current ETag and "
    "answer `Response(status_code=304)` with no body when they match.",
)
def catalogue_not_modified_304(client: httpx.Client) -> None:
    first = client.get("/catalogue")
    expect_status(first, 200)
    etag = expect_header(first, "etag")
    response = client.get("/catalogue", headers={"If-None-Match": etag})
    expect_status(response, 304, expected="304 with an empty body")
    if response.content:
        fail(
            "a 304 with a body",
            expected="304 with an empty body",
            response=response,
        )


def _stats(client: httpx.Client) -> tuple[dict[str, Any], str, httpx.Response]:
    response = client.get("/stats/users")
    body = expect_json(response)
    expect_fields(body, {"users": int, "domains": dict}, what="body", response=response)
    for domain, count in body["domains"].items():
        if not isinstance(count, int) or isinstance(count, bool):
            fail(
                f'domain "{domain}" has a count that is not an integer',
                expected='{"users": int, "domains": {"example.com": int, ...}}',
                response=response,
            )
    state = response.headers.get("x-cache", "").upper()
    if state not in ("HIT", "MISS"):
        fail(
            "no X-Cache header",
            expected="header X-Cache: MISS (computed) or HIT (from the cache)",
            got=f"header X-Cache: {response.headers['x-cache']}"
            if "x-cache" in response.headers
            else "no X-Cache header",
            response=response,
        )
    return body, state, response


def _stale(
    body: dict[str, Any],
    cached: dict[str, Any] | None,
    domain: str,
    response: httpx.Response,
) -> None:
    """A HIT: the answer cached at the last MISS, as it was."""
    if cached is None or body == cached:
        return
    if domain in body["domains"]:
        fail(
            "a HIT counts a user created after the cached answer",
            expected="X-Cache: HIT with the counts cached at the MISS before "
            "(a cache answers from what it kept)",
            got=f"the new user's domain counted: {short_json(body, 80)}",
            response=response,
        )
    fail(
        "a HIT differs from the answer cached at the MISS before",
        expected=f"the cached body: {short_json(cached, 80)}",
        response=response,
    )


def _next_miss(
    client: httpx.Client,
    cached: dict[str, Any] | None,
    since: float,
    domain: str,
    created: int,
    *,
    quick: int = 0,
) -> tuple[dict[str, Any], float, int]:
    """Ask until a MISS: ``quick`` requests at once, then one every ``POLL``.

    Every HIT must be ``cached`` (when known), the MISS must count the
    ``created`` users of ``domain``. Returns the MISS's body, when it came,
    and how many HITs came before it.
    """
    hits = 0
    while True:
        if hits >= quick:
            time.sleep(POLL)
        body, state, response = _stats(client)
        now = time.perf_counter()
        if state == "MISS":
            counted = body["domains"].get(domain, 0)
            if counted != created:
                fail(
                    "a MISS does not count a user created before it",
                    expected=f"X-Cache: MISS counting {created} user(s) in the "
                    "new user's domain",
                    got=f"{counted} there: {short_json(body, 80)}",
                    response=response,
                )
            return body, now, hits
        _stale(body, cached, domain, response)
        hits += 1
        if now - since > MISS_WAIT:
            fail(
                "the cache never expires",
                expected="X-Cache: MISS, counting what changed, within "
                f"CACHE_TTL_SECONDS (at most {MAX_TTL:g} s) of the answer cached",
                got=f"X-Cache: HIT with the same answer for {MISS_WAIT:g} s",
                response=response,
            )


@check(
    task="stats_cache",
    points=2,
    hint="Keep the answer with the time it expires (`time.monotonic()` plus the "
    "TTL from the settings, `CACHE_TTL_SECONDS`) and compute it again once that "
    "time has passed: not never, not sooner (a new user waits for the TTL), "
    "and not after a number of requests.",
)
def stats_expire_after_ttl(client: httpx.Client) -> None:
    rng = random.Random()
    domain = f"{unique('stale')}.example.com"
    # 1. A fresh entry: wait for the next MISS (an earlier entry may be alive).
    cached, missed, _ = _next_miss(client, None, time.perf_counter(), domain, 0)
    # 2. A user created after it: the HITs that follow are the cached answer,
    # without the user, until the entry expires, and the MISS then counts it.
    # The first few requests come at once (a random number: a cache counting
    # requests cannot know it); they must all be HITs.
    for created in range(1, ROUNDS + 1):
        email = f"{unique('stats')}@{domain}"
        create_user(client, {"name": "Ada", "email": email, "password": PASSWORD})
        quick = rng.randint(*QUICK)
        body, now, hits = _next_miss(
            client, cached, missed, domain, created, quick=quick
        )
        lifetime, cached, missed = now - missed, body, now
        if hits >= quick:
            break
        # Expired at once: fine if entries live that short here (or the
        # machine is that slow); see how long the next one lives, untouched.
        expired_after, early_hits = lifetime, hits
        body, now, hits = _next_miss(client, cached, missed, domain, created, quick=1)
        lifetime, cached, missed = now - missed, body, now
        if hits == 0:
            fail(
                "nothing is cached: a MISS twice in a row",
                expected="X-Cache: HIT on a repeat right after a MISS",
                got="X-Cache: MISS on every request",
            )
        if expired_after < lifetime / 2:
            fail(
                "the cached answer expired long before its time",
                expected="X-Cache: HIT until the TTL has passed, also right after "
                "a new user (the entry expires by time only)",
                got="X-Cache: MISS within a few quick requests after a new user, "
                "where an untouched entry lived more than twice as long",
                measured={
                    "expired_after": expired_after,
                    "entry_lifetime": lifetime,
                    "hits_before_expiry": early_hits,
                    "hits_untouched": hits,
                },
            )
        # Slow to create a user here: once more, from this fresh entry.
    # 3. A cache that counts requests instead of time: more quick requests
    # than the last entry answered HITs must all be HITs.
    burst = hits + rng.randint(2, 5)
    slowest = 0.0
    for done in range(burst):
        start = time.perf_counter()
        body, state, response = _stats(client)
        now = time.perf_counter()
        slowest = max(slowest, now - start)
        if state == "MISS":
            if now - missed < lifetime / 2:
                _counts_requests(
                    response,
                    entry_lifetime=lifetime,
                    expired_after=now - missed,
                    hits_before=hits,
                    requests_until_miss=done,
                )
            # A slow moment of the machine: time did pass. Step 4 decides.
            cached, missed = body, now
            break
        _stale(body, cached, domain, response)
    # 4. Time, not requests: an entry left alone for longer than the last one
    # lived is gone, however few requests it answered. (It lived at least
    # its TTL less one round trip; the slack covers the round trips.)
    waited = 1.5 * lifetime + 4 * slowest + POLL
    time.sleep(max(0.0, missed + waited - time.perf_counter()))
    body, state, response = _stats(client)
    if state != "MISS":
        _counts_requests(
            response,
            entry_lifetime=lifetime,
            left_alone_for=time.perf_counter() - missed,
            hits_before=hits,
        )


def _counts_requests(response: httpx.Response, **measured: float) -> NoReturn:
    # One text for both ways of finding it (a burst of requests that ends
    # the entry early, or an entry that outlives its time when left alone),
    # so that the report does not depend on which one the machine allowed.
    fail(
        "the cache expires after a number of requests, not after a time",
        expected="X-Cache: HIT for any number of requests within the TTL, and "
        "MISS once it has passed, however few came",
        got="the entry ended after about as many requests as the one before, "
        "not after the time it lived",
        response=response,
        measured=measured,
    )


@check(
    task="stats_cache",
    points=1,
    hint="Count users per e-mail domain in one query and return "
    '{"users": total, "domains": {domain: count}}.',
)
def stats_shape(client: httpx.Client) -> None:
    body, _, response = _stats(client)
    total = sum(body["domains"].values())
    if total != body["users"]:
        fail(
            "the domain counts do not add up to the user count",
            expected='"users" equal to the sum of the "domains" counts',
            response=response,
        )


@check(
    task="stats_cache",
    points=2,
    hint="Keep the computed stats with the time they were made; answer from "
    "them (X-Cache: HIT) until CACHE_TTL_SECONDS have passed.",
)
def stats_cached(client: httpx.Client) -> None:
    first, state, _ = _stats(client)
    second, again, response = _stats(client)
    if state == "HIT" and again == "MISS":
        # The entry cached by an earlier run expired in between: go once more.
        first, state = second, again
        second, again, response = _stats(client)
    if again != "HIT":
        fail(
            "a repeat within the TTL was computed again",
            expected="X-Cache: HIT on a repeat right after a MISS",
            got="X-Cache: MISS twice in a row",
            response=response,
        )
    if second != first:
        fail(
            "the cached answer differs from the computed one",
            expected=f"the same body as before: {short_json(first, 80)}",
            response=response,
        )
