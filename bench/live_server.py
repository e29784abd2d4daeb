"""Section 3: the live server in a kernel, ``coursekit.serve``: start and stop.

What a learner waits for when a cell runs ``server = serve(app)``, and when
it runs ``server.stop()`` (or re-runs the serve cell, which stops the old
server first). Each run builds a fresh app (outside the timing, as the
learner's cell does before calling serve), then times:

- *start*: from calling ``serve(app, show=False)`` until a ``GET /`` over a
  new TCP connection has returned 200 (startup, lifespan included);
- *stop*: ``server.stop()``, with no connection open, and with a keep-alive
  connection left open by an ``httpx.Client`` that made one request (what a
  learner's ``with httpx.Client(...)`` left over, or a client never closed).
"""

from __future__ import annotations

import http.client
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.stats import Goal, Row, Sample

__all__ = ["NOTES", "measure", "run"]

SECTION = "live_server"
START_GOAL = Goal("<=", 25, "ms")
STOP_GOAL = Goal("<=", 150, "ms")
ROOT = Path(__file__).resolve().parent.parent

NOTES = """\
*start* is `serve(app, show=False)` until a `GET /` on a new connection
(`http.client`, no proxy lookups) has returned 200; *stop* is
`server.stop()`. Every run serves a freshly built app (built outside the
timing). "course_app" is `create_app(upto=6)` on a SQLite file: its lifespan
creates the tables (they exist after the first run) and disposes of the
engine on stop. "keep-alive open" stops the server while an `httpx.Client`
that made one request is still open, as a learner's client usually is.
"in a kernel" runs the same measurement inside a real IPython kernel
(started with jupyter_client), where learners call serve(): the kernel's own
event loop and threads run beside the server's; one fresh kernel per repeat,
whose first serve() also pays for uvicorn's lazy imports of its protocol
modules (httptools, websockets: 10-20 ms), once per kernel.

stop() is about 100 ms whatever the app: uvicorn's `Server.shutdown()` asks
every connection to close and then sleeps a fixed 0.1 s before it waits for
them (and polls every 0.1 s while a request is still running). An idle
keep-alive connection closes at once, so it adds nothing. serve() already
wakes uvicorn's main loop at once instead of at its next 0.1 s tick.
"""


def _small_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"message": "hello"}

    return app


def _course_app_factory(folder: str) -> Callable[[], Any]:
    from course_app.config import Settings
    from course_app.main import create_app

    settings = Settings(
        database_url=f"sqlite:///{Path(folder) / 'live.db'}",
        secret_key="bench-" + "x" * 40,
    )
    return lambda: create_app(upto=6, settings=settings)


def _get_root(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def measure(make_app: Callable[[], Any], runs: int) -> dict[str, list[float]]:
    """Start and stop times in ms, ``runs`` of each, alternating how stop is
    called (no connection / a keep-alive connection open)."""
    import httpx

    from coursekit.serve import serve

    times: dict[str, list[float]] = {"start": [], "stop": [], "stop_keepalive": []}
    for index in range(2 * runs):
        app = make_app()
        started = time.perf_counter()
        server = serve(app, name="bench-live", show=False)
        status = _get_root(server.port)
        times["start"].append((time.perf_counter() - started) * 1000)
        if status != 200:
            server.stop()
            raise RuntimeError(f"GET / answered {status}, not 200")
        client = None
        if index % 2:
            client = httpx.Client(base_url=server.url, trust_env=False)
            client.get("/").raise_for_status()
        started = time.perf_counter()
        server.stop()
        elapsed = (time.perf_counter() - started) * 1000
        times["stop_keepalive" if client else "stop"].append(elapsed)
        if client is not None:
            client.close()
    return times


_KERNEL_CODE = """\
import json, os, sys
sys.path.insert(0, {root!r})
from bench.live_server import measure, _small_app
print("BENCH-JSON" + json.dumps(measure(_small_app, {runs})))
"""


def _measure_in_kernel(runs: int, ctx: Context) -> dict[str, list[float]]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    output: list[str] = []
    try:
        code = _KERNEL_CODE.format(root=str(ROOT), runs=runs)

        def collect(message: dict[str, Any]) -> None:
            content = message["content"]
            if message["msg_type"] == "stream":
                output.append(content["text"])
            elif message["msg_type"] == "error":
                output.append("\n".join(content["traceback"]))

        reply = client.execute_interactive(
            code, timeout=120, output_hook=collect, store_history=False
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    text = "".join(output)
    if reply["content"]["status"] != "ok" or "BENCH-JSON" not in text:
        raise RuntimeError(f"the kernel's measurement failed: {text[-500:]}")
    return json.loads(text.split("BENCH-JSON", 1)[1].splitlines()[0])


def _rows(label: str, times: dict[str, list[float]], note: str = "") -> list[Row]:
    return [
        Row(
            SECTION,
            f"{label}: start to first 200",
            Sample(times["start"], "ms"),
            START_GOAL,
            note,
        ),
        Row(SECTION, f"{label}: stop()", Sample(times["stop"], "ms"), STOP_GOAL),
        Row(
            SECTION,
            f"{label}: stop(), keep-alive open",
            Sample(times["stop_keepalive"], "ms"),
            STOP_GOAL,
        ),
    ]


def _log(ctx: Context, label: str, times: dict[str, list[float]]) -> None:
    summary = ", ".join(
        f"{key} {statistics.median(values):.1f} ms" for key, values in times.items()
    )
    ctx.log(f"  {label}: {summary}")


def run(ctx: Context) -> Iterable[Row]:
    runs = 10 if ctx.quick else 25  # of each stop kind: 2 x runs starts
    rows: list[Row] = []
    small = measure(_small_app, runs)
    _log(ctx, "small app", small)
    rows += _rows("small app", small)
    with tempfile.TemporaryDirectory(prefix="bench-live-") as folder:
        make = _course_app_factory(folder)
        make()  # import course_app and its routers outside the timing
        course = measure(make, runs)
    _log(ctx, "course_app", course)
    rows += _rows("course_app upto=6", course, "lifespan: create_all")

    # One fresh kernel per repeat: its first serve() is what a learner's
    # first serve cell costs; the others, what a re-run costs.
    kernel_runs = 3 if ctx.quick else 8
    kernel: dict[str, list[float]] = {}
    first: list[float] = []
    for _ in range(ctx.repeats):
        times = _measure_in_kernel(kernel_runs, ctx)
        first.append(times["start"][0])
        for key, values in times.items():
            kernel.setdefault(key, []).extend(values)
    _log(ctx, "small app in a kernel", kernel)
    rows += _rows("small app in a kernel", kernel)
    rows.append(
        Row(
            SECTION,
            "first serve() in a fresh kernel: start to first 200",
            Sample(first, "ms"),
            note="once per kernel; included in the row above too",
        )
    )
    return rows
