"""Section 2: the serving configurations that chapter 06 teaches, side by side.

course_app after chapter 06 (``bench.apps_configs.ch06``, the reference app
with nothing added) is served by uvicorn in processes of its own
(``coursekit.process.serve_process``) and driven by ``coursekit.load.run_load``
(wrk when installed, else locust). Every pair has both of its servers
running at once and alternates runs between them (A, B, A, B, ...), so a
busy moment of the machine lands on both sides; the ratios pair run i of
one side with run i of the other (``bench.stats.ratios``).
"""

from __future__ import annotations

import contextlib
import http.client
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.context import Context
from bench.stats import Goal, Row, Sample, ratios

__all__ = ["NOTES", "run"]

SECTION = "configs"
#: Concurrent connections of every load run but the cache's.
CONNECTIONS = 64
#: The cache pair's. It once had to stay below the database pool's 15
#: connections: uncached /stats/users deadlocked beyond (see NOTES).
CACHE_CONNECTIONS = 64
#: Users (spread over DOMAINS e-mail domains) in the database that
#: /stats/users counts: as in the lesson's measuring database.
SEED_USERS = 20_000
DOMAINS = 40
#: uvicorn's default with uvicorn[standard], spelled out so that a missing
#: uvloop or httptools fails loudly instead of falling back.
FAST = ("--loop", "uvloop", "--http", "httptools")
PLAIN = ("--loop", "asyncio", "--http", "h11")
APP = "bench.apps_configs.ch06:app"
ROOT = Path(__file__).resolve().parent.parent

NOTES = f"""\
How this section measures. Each server is `python -m uvicorn {APP}`
(course_app's `create_app(upto=6)`, settings from the environment) in
processes of its own, on a SQLite file seeded with {SEED_USERS:,} users over
{DOMAINS} e-mail domains. The load generator is wrk (one thread, {CONNECTIONS}
keep-alive connections, 1 s per run; locust when wrk is missing) on the same
two-core machine, so the numbers are what the server does while sharing the
CPU with its client. Runs alternate between the two sides of a pair; a run
with any failed or non-2xx response stops the section.

- *asyncio + h11 against uvloop + httptools*: `GET /`, a small `async def`
  route, where the loop and the HTTP parser are a large share of the work.
  The lesson quotes about 4,200 against 5,900 req/s (1.4x).
- *1 against 2 workers*: `GET /catalogue` compressed (0.4 ms of gzip per
  response: CPU work the GIL confines to one core per process), with
  `Connection: close`, as in the lesson's workers cell: with keep-alive, the
  connections wrk opens at once can all land on one worker for the whole run;
  a new connection per request goes to a worker that is free to accept it.
  "server cores" is the server's CPU seconds (all its processes) per second
  of load. On two cores the second worker competes with wrk and with the
  other side's idle server, so expect well under 2x; the lesson's claim is
  that throughput follows the cores the workers get.
- *GZip*: the same server, `GET /catalogue` with `Accept-Encoding: gzip`
  and with `identity`. The issue asked for a ~50 KB response; course_app's
  catalogue (1,000 items) is the one large response it has and is 69 KB,
  so that is what is measured; the byte rows are its exact sizes on the
  wire. wrk does not decompress, so the client's cost is in neither side;
  over loopback the smaller body saves almost nothing, so this measures
  GZip's cost, not its benefit (which is on slow networks).
- *Cache*: `GET /stats/users` (a `def` route, one GROUP BY over the users)
  with `CACHE_TTL_SECONDS=0` (every request misses and runs the query, one
  at a time behind the cache's lock) against `60` (one miss, then hits),
  with {CACHE_CONNECTIONS} connections. This pair found a deadlock in
  course_app, since fixed: with the cache off and 64 connections, uncached
  requests held pooled connections while waiting for worker threads, and the
  server stopped answering (see serving's notes and `db.released`).

Goals are the claims the lesson's cells assert, not targets for the app.
"""


@dataclass
class _Side:
    """One side of a pair: a server, a path, request headers, its runs."""

    label: str
    server: object  # coursekit.process.ProcessServer
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    rps: list[float] = field(default_factory=list)
    cores: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)


def _seed_database(folder: Path) -> str:
    """A SQLite file with the tables and SEED_USERS users; its URL."""
    from sqlalchemy import create_engine, insert

    from course_app.db import create_tables
    from course_app.models import User

    url = f"sqlite:///{folder / 'bench.db'}"
    engine = create_engine(url)
    try:
        create_tables(engine)
        rows = [
            {
                "name": f"User {n}",
                "email": f"user{n}@domain{n % DOMAINS}.example",
                "hashed_password": "-",
            }
            for n in range(SEED_USERS)
        ]
        with engine.begin() as connection:
            connection.execute(insert(User), rows)
    finally:
        engine.dispose()
    return url


def _raw_get(url: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the body exactly as sent (not decompressed)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path or "/", headers=dict(headers))
        response = connection.getresponse()
        body = response.read()
        found = {k.lower(): v for k, v in response.getheaders()}
        return response.status, found, body
    finally:
        connection.close()


def _load(ctx: Context, side: _Side, seconds: float, connections: int) -> None:
    from coursekit.load import run_load

    server = side.server
    url = server.url + side.path  # type: ignore[attr-defined]
    before = server.cpu_seconds()  # type: ignore[attr-defined]
    result = run_load(
        url, users=connections, duration=seconds, headers=side.headers, tool="auto"
    )
    used = server.cpu_seconds() - before  # type: ignore[attr-defined]
    if result.failures or result.requests == 0:
        raise RuntimeError(
            f"{side.label}: {result.failures} of {result.requests} requests to "
            f"{side.path} failed or were not 2xx ({result.tool}); the numbers "
            "would not be comparable"
        )
    side.rps.append(result.rps)
    side.cores.append(used / result.seconds)
    side.cpu_ms.append(used * 1000 / result.requests)
    ctx.log(
        f"  {side.label}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.0f} ms, "
        f"server {used / result.seconds:.2f} cores ({result.tool})"
    )
    _settle(server)


def _settle(server: object, limit: float = 5.0) -> None:
    """Wait until the server is idle: requests queued when the load generator
    stopped must not be served during the other side's run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = server.cpu_seconds()  # type: ignore[attr-defined]
        time.sleep(0.1)
        if server.cpu_seconds() - before < 0.02:  # type: ignore[attr-defined]
            return


def _alternate(
    ctx: Context, a: _Side, b: _Side, seconds: float, connections: int = CONNECTIONS
) -> None:
    for round_ in range(ctx.repeats):
        ctx.log(f"  round {round_ + 1} of {ctx.repeats}")
        # Alternate which side goes first, so neither always follows the other.
        first, second = (a, b) if round_ % 2 == 0 else (b, a)
        _load(ctx, first, seconds, connections)
        _load(ctx, second, seconds, connections)


@contextlib.contextmanager
def _servers(ctx: Context, env: dict[str, str]) -> Iterator[dict[str, object]]:
    from coursekit.process import serve_process

    plans = {
        "plain": ({}, 1, PLAIN),
        "fast": ({}, 1, FAST),
        "two": ({}, 2, FAST),
        "nocache": ({"CACHE_TTL_SECONDS": "0"}, 1, FAST),
    }
    with contextlib.ExitStack() as stack:
        started: dict[str, object] = {}
        for name, (extra, workers, args) in plans.items():
            server = serve_process(
                APP,
                app_dir=ROOT,
                workers=workers,
                env={**env, **extra},
                uvicorn_args=list(args),
                show=False,
            )
            stack.callback(server.stop)
            ctx.log(f"  server {name}: {server.command_line}")
            started[name] = server
        yield started


def _check_cache_headers(fast: object, nocache: object) -> None:
    for server, wanted in ((fast, "HIT"), (nocache, "MISS")):
        url = server.url + "/stats/users"  # type: ignore[attr-defined]
        for _ in range(2):
            status, headers, body = _raw_get(url, {})
        if status != 200 or headers.get("x-cache") != wanted:
            raise RuntimeError(
                f"/stats/users answered {status} with X-Cache "
                f"{headers.get('x-cache')!r}, expected 200 and {wanted!r}: "
                f"{body[:200]!r}"
            )


def run(ctx: Context) -> Iterable[Row]:
    seconds = 0.5 if ctx.quick else 1.0
    rows: list[Row] = []

    def row(what: str, sample: Sample, goal: Goal | None = None, note: str = ""):
        rows.append(Row(SECTION, what, sample, goal, note))

    with tempfile.TemporaryDirectory(prefix="bench-configs-") as folder:
        ctx.log(f"  seeding {SEED_USERS:,} users")
        env = {
            "DATABASE_URL": _seed_database(Path(folder)),
            # One key for every worker (and no warning about a missing one).
            "SECRET_KEY": secrets.token_urlsafe(32),
            "CACHE_TTL_SECONDS": "60",
        }
        with _servers(ctx, env) as servers:
            # -- event loop and HTTP parser --------------------------------
            ctx.log("pair: asyncio + h11 / uvloop + httptools, GET /")
            plain = _Side("asyncio+h11", servers["plain"], "/")
            fast = _Side("uvloop+httptools", servers["fast"], "/")
            _alternate(ctx, plain, fast, seconds)
            row("GET /, --loop asyncio --http h11", Sample(plain.rps, "req/s"))
            row("GET /, --loop uvloop --http httptools", Sample(fast.rps, "req/s"))
            row(
                "uvloop + httptools / asyncio + h11",
                ratios(fast.rps, plain.rps),
                note="lesson 07c quotes about 1.8x from this row",
            )

            # -- workers ----------------------------------------------------
            ctx.log("pair: 1 / 2 workers, GET /catalogue gzip, Connection: close")
            heavy = {"Accept-Encoding": "gzip", "Connection": "close"}
            one = _Side("1 worker", servers["fast"], "/catalogue", heavy)
            two = _Side("2 workers", servers["two"], "/catalogue", heavy)
            _alternate(ctx, one, two, seconds)
            what = "GET /catalogue (gzip, Connection: close)"
            row(f"{what}, 1 worker", Sample(one.rps, "req/s"))
            row(f"{what}, 2 workers", Sample(two.rps, "req/s"))
            row("2 workers / 1 worker", ratios(two.rps, one.rps))
            row(
                "server cores busy, 1 worker",
                Sample(one.cores, "cores"),
                Goal("<=", 1.2, "cores"),
                note="lesson: one process stays on one core (GIL)",
            )
            row("server cores busy, 2 workers", Sample(two.cores, "cores"))
            per_core_one = [r / c for r, c in zip(one.rps, one.cores, strict=True)]
            per_core_two = [r / c for r, c in zip(two.rps, two.cores, strict=True)]
            row(
                "req/s per server core, 2 workers / 1 worker",
                ratios(per_core_two, per_core_one),
                Goal(">=", 0.5, "x"),
                note="lesson: a worker adds cores, not speed (asserts 0.5-1.5x)",
            )

            # -- GZip -------------------------------------------------------
            ctx.log("pair: GET /catalogue identity / gzip (one server)")
            url = servers["fast"].url + "/catalogue"  # type: ignore[attr-defined]
            sizes = {}
            for coding in ("identity", "gzip"):
                status, headers, body = _raw_get(url, {"Accept-Encoding": coding})
                sent = headers.get("content-encoding", "identity")
                if status != 200 or sent != coding:
                    raise RuntimeError(
                        f"/catalogue with Accept-Encoding {coding}: {status}, "
                        f"content-encoding {sent!r}"
                    )
                sizes[coding] = len(body)
            row(
                "GET /catalogue body on the wire, identity",
                Sample([sizes["identity"]], "B"),
                note="1,000 items; the lesson prints 69,017 B",
            )
            row(
                "GET /catalogue body on the wire, gzip",
                Sample([sizes["gzip"]], "B"),
                note="compresslevel 6; the lesson prints 11,396 B",
            )
            row(
                "gzip bytes / identity bytes",
                Sample([sizes["gzip"] / sizes["identity"]], "x"),
                note="lesson: about a sixth",
            )
            identity = _Side(
                "identity",
                servers["fast"],
                "/catalogue",
                {"Accept-Encoding": "identity"},
            )
            gzipped = _Side(
                "gzip", servers["fast"], "/catalogue", {"Accept-Encoding": "gzip"}
            )
            _alternate(ctx, identity, gzipped, seconds)
            row("GET /catalogue, identity", Sample(identity.rps, "req/s"))
            row("GET /catalogue, gzip", Sample(gzipped.rps, "req/s"))
            row(
                "gzip / identity, req/s",
                ratios(gzipped.rps, identity.rps),
                Goal("<=", 0.85, "x"),
                note="lesson asserts < 0.85x over loopback",
            )
            row(
                "server CPU per response, identity",
                Sample(identity.cpu_ms, "ms"),
            )
            row("server CPU per response, gzip", Sample(gzipped.cpu_ms, "ms"))
            row(
                "gzip / identity, server CPU per response",
                ratios(gzipped.cpu_ms, identity.cpu_ms),
                Goal(">=", 2, "x"),
                note="lesson asserts > 2x",
            )

            # -- the /stats/users cache --------------------------------------
            ctx.log("pair: /stats/users CACHE_TTL_SECONDS=0 / 60")
            _check_cache_headers(servers["fast"], servers["nocache"])
            uncached = _Side("ttl 0", servers["nocache"], "/stats/users")
            cached = _Side("ttl 60", servers["fast"], "/stats/users")
            _alternate(ctx, uncached, cached, seconds, CACHE_CONNECTIONS)
            row("GET /stats/users, CACHE_TTL_SECONDS=0", Sample(uncached.rps, "req/s"))
            row("GET /stats/users, CACHE_TTL_SECONDS=60", Sample(cached.rps, "req/s"))
            row(
                "cached / uncached",
                ratios(cached.rps, uncached.rps),
                Goal(">=", 5, "x"),
                note=f"{SEED_USERS:,} users, {CACHE_CONNECTIONS} connections; "
                "lesson asserts > 5x",
            )
    return rows
