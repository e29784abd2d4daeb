"""Chapter 03, async: concurrent waits, the thread pool, a free event loop.

The timed checks compare against the time the same requests would take one
after another and pass below half of it: a server that serialises requests
takes all of that time and more (more still on a busy machine), while one
that overlaps them needs a single wait plus overhead, and the waits are long
enough (0.5 s: ten take 5 s one after another, and the bound of 2.5 s leaves
2 s for a loaded machine's overhead, which exceeded 1.2 s beside a second
test suite) that the overhead fits in the rest. Reports state the limits,
never the measured times (those go to ``measured``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from coursekit.contracts.expect import (
    expect_equal,
    expect_json,
    expect_status,
    expect_validation_error,
    fail,
)
from coursekit.contracts.registry import check

#: A wait is never shorter than asked; allow only clock granularity.
WAIT_SLACK = 0.9
#: The share of the one-after-another time under which requests overlapped.
OVERLAP = 0.5
#: Each wait of the overlap checks, in seconds (the routes allow up to 2).
OVERLAP_DELAY = 0.5


def _concurrently(
    client: httpx.Client, url: str, params: dict[str, Any], count: int
) -> tuple[float, list[httpx.Response]]:
    """Send ``count`` identical requests at once; seconds until all answered.

    The clock starts when the senders are released together, not before their
    threads exist: starting ten threads is no part of the server's time.
    """
    barrier = threading.Barrier(count)

    def send(_: int) -> tuple[float, float, httpx.Response]:
        barrier.wait(timeout=10)
        sent = time.perf_counter()
        response = client.get(url, params=params)
        return sent, time.perf_counter(), response

    with ThreadPoolExecutor(max_workers=count) as pool:
        timed = list(pool.map(send, range(count)))
    elapsed = max(end for _, end, _ in timed) - min(sent for sent, _, _ in timed)
    return elapsed, [response for _, _, response in timed]


def _expect_wait(
    client: httpx.Client, url: str, delay: float, body: dict[str, Any]
) -> None:
    start = time.perf_counter()
    response = client.get(url, params={"delay": delay})
    elapsed = time.perf_counter() - start
    expect_equal(expect_json(response), body, what="body", response=response)
    if elapsed < WAIT_SLACK * delay:
        fail(
            "the endpoint answered without waiting",
            expected=f"the answer after about {delay} s",
            got="an answer at once",
            response=response,
            measured={"elapsed": elapsed, "delay": delay},
        )


def _expect_overlap(
    client: httpx.Client, url: str, *, mode: str, count: int, delay: float
) -> None:
    elapsed, responses = _concurrently(client, url, {"delay": delay}, count)
    for response in responses:
        body = expect_json(response)
        expected = {"mode": mode, "delay": delay}
        expect_equal(body, expected, what="body", response=response)
    serial = count * delay
    limit = serial * OVERLAP
    measured = {"elapsed": elapsed, "limit": limit, "serial": serial}
    if elapsed < WAIT_SLACK * delay:
        fail(
            "the requests were answered without waiting",
            expected=f"{count} answers after about {delay} s",
            got="answers at once",
            response=responses[-1],
            measured=measured,
        )
    if elapsed >= limit:
        fail(
            f"{count} concurrent requests did not overlap",
            expected=f"all {count} answered within {limit:g} s "
            f"(one after another they take {serial:g} s)",
            got=f"more than {limit:g} s: the requests waited for each other",
            response=responses[-1],
            measured=measured,
        )


@check(
    task="async_io",
    points=1,
    hint="`async def` the endpoint, `await asyncio.sleep(delay)` and return "
    '{"mode": "async", "delay": delay}.',
)
def async_endpoint(client: httpx.Client) -> None:
    _expect_wait(client, "/io/async", 0.1, {"mode": "async", "delay": 0.1})


@check(
    task="async_io",
    points=3,
    hint="Inside `async def`, wait with `await asyncio.sleep(...)`: "
    "`time.sleep` freezes the event loop and every other request with it.",
)
def async_requests_overlap(client: httpx.Client) -> None:
    _expect_overlap(client, "/io/async", mode="async", count=10, delay=OVERLAP_DELAY)


@check(
    task="sync_io",
    points=1,
    hint="A plain `def` endpoint with `time.sleep(delay)` returning "
    '{"mode": "sync", "delay": delay}.',
)
def sync_endpoint(client: httpx.Client) -> None:
    _expect_wait(client, "/io/sync", 0.1, {"mode": "sync", "delay": 0.1})


@check(
    task="sync_io",
    points=2,
    hint="Declare the blocking endpoint with plain `def`, not `async def`: "
    "FastAPI then runs it in its thread pool, many at a time.",
)
def sync_requests_overlap(client: httpx.Client) -> None:
    _expect_overlap(client, "/io/sync", mode="sync", count=10, delay=OVERLAP_DELAY)


@check(
    task="sync_io",
    points=2,
    hint="A blocking call (`time.sleep`, a sync database driver) belongs in a "
    "plain `def` endpoint, never in an `async def` one.",
)
def loop_free_while_sync_waits(client: httpx.Client) -> None:
    # Blocked, GET / would wait for at least the rest of one wait (1.7 s),
    # and likely for all three (6 s); free, it answers at once, so half a
    # wait leaves a busy machine room. Three waits of 2 s (the longest the
    # route allows) end within the request timeout even one after another.
    delay, waiting, head_start = 2.0, 3, 0.3
    limit = delay / 2

    def wait_sync() -> tuple[float, httpx.Response]:
        start = time.perf_counter()
        response = client.get("/io/sync", params={"delay": delay})
        return time.perf_counter() - start, response

    with ThreadPoolExecutor(max_workers=waiting) as pool:
        waits = [pool.submit(wait_sync) for _ in range(waiting)]
        # Give the slow requests time to reach the server first.
        time.sleep(head_start)
        start = time.perf_counter()
        response = client.get("/")
        elapsed = time.perf_counter() - start
        slow = [future.result() for future in waits]
    expect_status(response, 200)
    for took, answer in slow:
        expect_json(answer)
        if took < WAIT_SLACK * delay:
            fail(
                "/io/sync answered without waiting",
                expected=f"the answer after about {delay:g} s",
                got="an answer at once",
                response=answer,
            )
    if elapsed >= limit:
        fail(
            "GET / waited for the /io/sync requests",
            expected=f"GET / answered within {limit:g} s while {waiting} requests "
            f"to /io/sync?delay={delay:g} are waiting",
            got=f"no answer within {limit:g} s: the event loop was blocked",
            response=response,
            measured={"elapsed": elapsed, "limit": limit},
        )


@check(
    task="fanout",
    points=2,
    hint="Build `n` coroutines and `await asyncio.gather(*coroutines)`; each "
    "returns its own index, so the results are `list(range(n))`.",
)
def fanout_results(client: httpx.Client) -> None:
    response = client.get("/io/fanout", params={"n": 5, "delay": 0.05})
    expected = {"n": 5, "delay": 0.05, "results": [0, 1, 2, 3, 4]}
    expect_equal(expect_json(response), expected, what="body", response=response)


@check(
    task="fanout",
    points=2,
    hint="`asyncio.gather` runs the waits together; awaiting them one by one "
    "in a loop adds the delays up.",
)
def fanout_waits_overlap(client: httpx.Client) -> None:
    n, delay = 10, OVERLAP_DELAY
    serial = n * delay
    limit = serial * OVERLAP
    start = time.perf_counter()
    response = client.get("/io/fanout", params={"n": n, "delay": delay})
    elapsed = time.perf_counter() - start
    body = expect_json(response)
    expected = {"n": n, "delay": delay, "results": list(range(n))}
    expect_equal(body, expected, what="body", response=response)
    measured = {"elapsed": elapsed, "limit": limit, "serial": serial}
    if elapsed < WAIT_SLACK * delay:
        fail(
            "the fan-out answered without waiting",
            expected=f"an answer after about {delay:g} s",
            got="an answer at once",
            response=response,
            measured=measured,
        )
    if elapsed >= limit:
        fail(
            "the fan-out waits ran one after another",
            expected=f"an answer within {limit:g} s ({n} waits of {delay:g} s "
            "at the same time)",
            got=f"more than {limit:g} s: the waits did not overlap",
            response=response,
            measured=measured,
        )


@check(
    task="fanout",
    points=1,
    hint="Bound the count in the signature: `n: Annotated[int, Query(ge=1, le=20)]`.",
)
def fanout_n_bounds_422(client: httpx.Client) -> None:
    for n in (0, 21):
        response = client.get("/io/fanout", params={"n": n, "delay": 0})
        expect_validation_error(response, ["query", "n"])


_DELAY_URLS = (("/io/async", {}), ("/io/sync", {}), ("/io/fanout", {"n": 1}))


@check(
    task="delay_validation",
    points=2,
    hint="Let FastAPI reject bad delays before your code runs: "
    "`delay: Annotated[float, Query(ge=0, le=2)]` on every endpoint.",
)
def delay_out_of_range_422(client: httpx.Client) -> None:
    for delay in (5, -1):
        for url, params in _DELAY_URLS:
            response = client.get(url, params=params | {"delay": delay})
            expect_validation_error(response, ["query", "delay"])


@check(
    task="delay_validation",
    points=1,
    hint="`nan` compares false with everything, so `if delay > 2` lets it "
    "through; `Query(ge=0, le=2, allow_inf_nan=False)` rejects it and says why.",
)
def delay_nan_422(client: httpx.Client) -> None:
    for url, params in _DELAY_URLS:
        response = client.get(url, params=params | {"delay": "nan"})
        expect_validation_error(response, ["query", "delay"])
