"""Chapter 06, optimization: compression, HTTP caching, an in-process cache."""

from __future__ import annotations

from typing import Any

import httpx

from coursekit.contracts.expect import (
    expect_fields,
    expect_header,
    expect_json,
    expect_status,
    fail,
    short_json,
)
from coursekit.contracts.registry import check

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
