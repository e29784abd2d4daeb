"""Section 1: course_app against the same endpoints as raw ASGI and Starlette.

Three uvicorn servers, started side by side with the same settings, serve
the same three read endpoints with byte-identical bodies (``bench/apps``):

* ``raw ASGI``: a bare ASGI callable, the floor;
* ``Starlette``: plain Starlette, what FastAPI is built on;
* ``course_app``: the course's FastAPI app (chapter 4, the first whose
  ``GET /users/{id}`` reads the database).

Every endpoint's body is checked once on every server before any load, so
the three are proven equivalent. Then a real load generator (wrk when it is
on the machine, else locust headless, through ``coursekit.load.run_load``)
drives each server in turn, A B C A B C ..., so each ratio pairs runs made
moments apart. Any failed or non-2xx request stops the section: a benchmark
of errors measures nothing.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.apps import GREETING, SEED_USER, dumps, item_body, seed_database
from bench.context import Context
from bench.stats import Goal, Row, Sample, ratios
from coursekit.load import LoadResult, run_load
from coursekit.process import ProcessServer, serve_process

__all__ = ["NOTES", "ServingBenchError", "run"]

SECTION = "serving"
ROOT = Path(__file__).resolve().parent.parent

#: The same uvicorn settings for every server: one worker, uvloop,
#: httptools; serve_process adds ``--log-level info --no-access-log``.
UVICORN_ARGS = ("--loop", "uvloop", "--http", "httptools", "--lifespan", "on")
#: Concurrent keep-alive connections of the load generator. Enough to keep
#: one worker busy; below 55, where course_app's database route deadlocks
#: (40 threads + 15 pooled connections: see NOTES).
CONNECTIONS = 64
#: Seconds per measured run (wrk measures whole seconds, at least one).
DURATION = 1.0
QUICK_DURATION = 0.5
#: Seconds of unmeasured load per server and endpoint before measuring.
WARM_UP = 1.0


@dataclass(frozen=True)
class Implementation:
    key: str
    label: str
    target: str


IMPLEMENTATIONS = (
    Implementation("raw", "raw ASGI", "bench.apps.raw_asgi:app"),
    Implementation("starlette", "Starlette", "bench.apps.starlette_app:app"),
    Implementation("fastapi", "course_app", "bench.apps.reference:app"),
)


@dataclass(frozen=True)
class Endpoint:
    key: str
    path: str
    body: bytes
    #: The goal for course_app / Starlette, and why course_app is slower.
    goal: Goal
    gap: str


@dataclass
class Runs:
    """What the runs of one server on one endpoint measured."""

    rps: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU per request


class ServingBenchError(RuntimeError):
    """A server answered wrongly or failed under load; the message says how."""


# Why course_app answers fewer requests than Starlette, per endpoint; the
# evidence is in NOTES below.
_SIMPLE_GAP = (
    "FastAPI per request: its request handler (AsyncExitStacks, dependency "
    "solving even with no dependencies), params validated by pydantic, the "
    "returned model validated and serialised as the response model"
)
_ITEM_GAP = _SIMPLE_GAP.replace("params validated", "item_id and q validated")
_DB_GAP = (
    "the same query, but 5 thread-pool hops a request instead of 1: "
    "get_session enter and exit, get_sql_user_repo, the def route, and the "
    "response validation of a def route; plus what GET / pays"
)


def _endpoints(user_id: int) -> tuple[Endpoint, ...]:
    return (
        Endpoint("/", "/", dumps(GREETING), Goal(">=", 0.6, "x"), _SIMPLE_GAP),
        Endpoint(
            "/items/{id}",
            "/items/42?q=bench",
            dumps(item_body(42, "bench")),
            Goal(">=", 0.6, "x"),
            _ITEM_GAP,
        ),
        Endpoint(
            "/users/{id} (DB)",
            f"/users/{user_id}",
            dumps({"id": user_id, **SEED_USER}),
            Goal(">=", 0.3, "x"),
            _DB_GAP,
        ),
    )


@contextlib.contextmanager
def _servers(database_url: str, ctx: Context) -> Iterator[dict[str, ProcessServer]]:
    """The three servers, running; all stopped when the block ends."""
    with contextlib.ExitStack() as stack:
        servers: dict[str, ProcessServer] = {}
        for impl in IMPLEMENTATIONS:
            server = stack.enter_context(
                serve_process(
                    impl.target,
                    app_dir=ROOT,
                    env={"DATABASE_URL": database_url},
                    uvicorn_args=UVICORN_ARGS,
                    show=False,
                )
            )
            ctx.log(f"serving: {impl.label} at {server.url}: {server.command_line}")
            servers[impl.key] = server
        yield servers


def _verify(servers: dict[str, ProcessServer], endpoints: tuple[Endpoint, ...]) -> None:
    """Every server answers every endpoint 200 with exactly the expected body."""
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        for impl in IMPLEMENTATIONS:
            for endpoint in endpoints:
                answer = client.get(servers[impl.key].url + endpoint.path)
                content_type = answer.headers.get("content-type", "")
                if (
                    answer.status_code != 200
                    or answer.content != endpoint.body
                    or content_type != "application/json"
                ):
                    raise ServingBenchError(
                        f"{impl.label} answers GET {endpoint.path} with "
                        f"{answer.status_code} ({content_type}) "
                        f"{answer.content[:200]!r}; expected 200 "
                        f"(application/json) {endpoint.body!r}. The servers must "
                        "answer alike for their numbers to compare."
                    )


def _load(
    server: ProcessServer, impl: Implementation, endpoint: Endpoint, duration: float
) -> tuple[LoadResult, float]:
    """One load run and the server's CPU seconds it took; checked for errors."""
    cpu_before = server.cpu_seconds()
    result = run_load(
        server.url + endpoint.path, users=CONNECTIONS, duration=duration, tool="auto"
    )
    cpu = server.cpu_seconds() - cpu_before
    if not server.running:
        raise ServingBenchError(
            f"The {impl.label} server stopped during the load on "
            f"GET {endpoint.path}. Its output:\n{server.logs()[-2000:]}"
        )
    if not result.requests:
        raise ServingBenchError(
            f"{impl.label} completed no request to GET {endpoint.path} in "
            f"{result.seconds:.1f} s with {CONNECTIONS} connections: the server "
            "is stuck (for course_app's database route: the thread-pool / "
            "connection-pool deadlock described in bench/serving.py NOTES). "
            f"Server output:\n{server.logs()[-2000:]}"
        )
    if result.failures:
        raise ServingBenchError(
            f"{impl.label}: {result.failures} of {result.requests} requests to "
            f"GET {endpoint.path} failed (error status or socket error) under "
            f"{result.tool}; a benchmark of errors measures nothing. "
            f"Server output:\n{server.logs()[-2000:]}"
        )
    return result, cpu


def _rows(
    endpoints: tuple[Endpoint, ...], runs: dict[tuple[str, str], Runs]
) -> list[Row]:
    rows: list[Row] = []
    for endpoint in endpoints:
        by_impl = {impl.key: runs[impl.key, endpoint.key] for impl in IMPLEMENTATIONS}
        raw = by_impl["raw"].rps
        for impl in IMPLEMENTATIONS:
            measured = by_impl[impl.key]
            p99 = Sample(measured.p99_ms, "ms").median
            cpu = Sample(measured.cpu_us, "us").median
            rows.append(
                Row(
                    SECTION,
                    f"GET {endpoint.key}: {impl.label}",
                    Sample(measured.rps, "req/s"),
                    note=f"p99 {p99:.1f} ms; server CPU {cpu:.0f} us/request",
                )
            )
        for impl in IMPLEMENTATIONS[1:]:
            rows.append(
                Row(
                    SECTION,
                    f"GET {endpoint.key}: {impl.label} / raw ASGI",
                    ratios(by_impl[impl.key].rps, raw),
                    note="req/s ratio, runs paired side by side",
                )
            )
        rows.append(
            Row(
                SECTION,
                f"GET {endpoint.key}: course_app / Starlette",
                ratios(by_impl["fastapi"].rps, by_impl["starlette"].rps),
                goal=endpoint.goal,
                note=endpoint.gap,
            )
        )
    return rows


def run(ctx: Context) -> list[Row]:
    """Start the three servers, check them, load them in turn; the rows."""
    duration = QUICK_DURATION if ctx.quick else DURATION
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as folder:
        database_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        user_id = seed_database(database_url)
        endpoints = _endpoints(user_id)
        runs = {
            (impl.key, endpoint.key): Runs()
            for impl in IMPLEMENTATIONS
            for endpoint in endpoints
        }
        with _servers(database_url, ctx) as servers:
            _verify(servers, endpoints)
            ctx.log("serving: all three servers answer every endpoint alike")
            if not ctx.quick:
                for endpoint in endpoints:
                    for impl in IMPLEMENTATIONS:
                        _load(servers[impl.key], impl, endpoint, WARM_UP)
                ctx.log("serving: warmed up")
            for round_ in range(1, ctx.repeats + 1):
                for endpoint in endpoints:
                    for impl in IMPLEMENTATIONS:
                        result, cpu = _load(servers[impl.key], impl, endpoint, duration)
                        measured = runs[impl.key, endpoint.key]
                        measured.rps.append(result.rps)
                        measured.p99_ms.append(result.p99_ms)
                        measured.cpu_us.append(cpu / result.requests * 1e6)
                    rps = ", ".join(
                        f"{impl.label} {runs[impl.key, endpoint.key].rps[-1]:,.0f}"
                        for impl in IMPLEMENTATIONS
                    )
                    ctx.log(
                        f"serving: round {round_}/{ctx.repeats} "
                        f"GET {endpoint.key}: {rps} req/s"
                    )
    return _rows(endpoints, runs)


NOTES = """\
The three servers run the same uvicorn command (1 worker, uvloop, httptools,
no access log) on one machine with the load generator, 64 keep-alive
connections, and serve byte-identical bodies (checked before loading, and by
`tests/bench/test_serving_apps.py`). The database read is the same in all
three: course_app's engine settings (file SQLite, `QueuePool` of 5 + 10,
`pool_pre_ping`), its session factory and `SqlUserRepository.get`, run as
blocking code in AnyIO's thread pool because course_app's route is a `def`.
"server CPU" is the server process's CPU time over the run divided by the
requests served: unlike req/s it hardly moves when another program shares
the machine.

Why course_app is slower than Starlette on the simple routes: the gap is
FastAPI's own per-request work, not course_app's code. An empty FastAPI app
with the same two `async def` routes costs what course_app does (measured
in-process, calling the ASGI apps directly). Per request FastAPI runs its
request handler with two `AsyncExitStack`s, solves the (empty) dependency
tree, validates `item_id` and `q` with pydantic, validates the returned
model against the response model and serialises it, and passes through its
extra ASGI layers (exception handling, body-size limit, telemetry hooks,
route matching with scope bookkeeping). In-process that is tens of
microseconds where Starlette needs about ten; over HTTP uvicorn's own cost
per request is the same for all three and narrows the ratio.

Why the database read is much slower: the query and the work in the
database are the same, but a `def` route with `def` dependencies makes five
thread-pool round trips per request where the hand-written apps make one:
entering `get_session`, calling `get_sql_user_repo`, the route itself,
validating the response model of a `def` route (FastAPI runs it in the pool
too), and leaving `get_session`. Each round trip wakes a worker thread,
takes the GIL back and forth and reschedules the event loop.

A finding of this benchmark, fixed in course_app: at 64 connections the
database read used to stop answering. The session held its pooled connection
from the query until `get_session` exited, which is after response
validation, and for a `def` route that waits for a free worker thread. With
more requests in flight than 40 threads + 15 connections, all 40 threads sat
in the pool waiting for a connection while the 15 connections belonged to
requests waiting for a thread, until `pool_timeout` (fastapi/fastapi#3205).
course_app now ends each unit of database work at once (`db.released`), and
`tests/course_app/test_pool_under_load.py` proves it with a pool of one.
"""
