"""coursekit.load: a real load generator, run headless, read back."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request

from coursekit import load
from coursekit.load import LoadError, LoadResult, parse_wrk, percentile, run_load
from coursekit.serve import LiveServer, serve

#: (time, X-Probe header) of each request the test server answered.
SEEN: list[tuple[float, str]] = []


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def root(request: Request) -> dict[str, str]:
        SEEN.append((time.monotonic(), request.headers.get("x-probe", "")))
        return {"ok": "yes"}

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with serve(make_app(), name="test-load", show=False) as live:
        yield live


# -- percentiles -------------------------------------------------------------


def test_percentile_of_a_histogram() -> None:
    histogram = {1.0: 50, 2.0: 40, 10.0: 9, 100.0: 1}
    assert percentile(histogram, 0.5) == 1.0
    assert percentile(histogram, 0.505) == 2.0  # the 51st of 100 samples
    assert percentile(histogram, 0.9) == 2.0
    assert percentile(histogram, 0.99) == 10.0
    assert percentile(histogram, 1.0) == 100.0
    assert percentile(histogram, 0.0) == 1.0


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile({}, 0.5) == 0.0


def test_percentile_fraction_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        percentile({1.0: 1}, 50)


# -- wrk's output ------------------------------------------------------------

WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.61ms    2.01ms  30.12ms   90.00%
    Req/Sec     6.05k   250.00     6.50k    70.00%
  Latency Distribution
     50%   10.20ms
     75%   11.00ms
     90%   12.50ms
     99%    1.20s
  12100 requests in 2.00s, 1.60MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   6050.00
Transfer/sec:    800.00KB
"""


def test_parse_wrk() -> None:
    result = parse_wrk(WRK_OUTPUT, url="http://x/", users=64, command=["wrk"])
    assert result.tool == "wrk"
    assert result.requests == 12100
    assert result.seconds == pytest.approx(2.0)
    assert result.rps == pytest.approx(6050.0)
    assert result.failures == 7  # 4 non-2xx/3xx + 3 socket errors
    assert (result.p50_ms, result.p90_ms) == (pytest.approx(10.2), 12.5)
    assert result.p99_ms == pytest.approx(1200.0)


def test_parse_wrk_refuses_what_it_cannot_read() -> None:
    with pytest.raises(LoadError, match="Cannot read wrk's output"):
        parse_wrk("unable to connect", url="http://x/", users=1, command=["wrk"])


# -- running Locust ------------------------------------------------------------


def test_locust_measures_a_live_server(server: LiveServer) -> None:
    SEEN.clear()
    result = run_load(
        server.url + "/?a=1", users=4, duration=1, headers={"X-Probe": "sent"}
    )
    assert isinstance(result, LoadResult)
    assert result.tool == "locust"
    assert result.users == 4
    assert result.seconds == 1
    assert result.failures == 0
    assert result.requests > 20
    assert result.rps == pytest.approx(result.requests / result.seconds)
    # Locust keeps latencies in whole milliseconds: a fast answer is 0 ms.
    assert 0 <= result.p50_ms <= result.p90_ms <= result.p99_ms < 1000
    # The request went out as asked, headers included, and only as counted
    # (plus at most one request per user cut off by the end of the run).
    assert {header for _, header in SEEN} == {"sent"}
    assert result.requests <= len(SEEN)
    # It ran for the duration asked, plus the ramp-up (4 users at 20 a second).
    span = SEEN[-1][0] - SEEN[0][0]
    assert 0.9 < span < 1.9
    assert result.command[:3] == [sys.executable, "-m", "locust"]
    assert "--headless" in result.command
    text = str(result)
    assert "req/s" in text and "0 failed" in text and "locust" in text


def test_locust_counts_failures(server: LiveServer) -> None:
    result = run_load(server.url + "/missing", users=2, duration=0.5)
    assert result.requests > 0
    assert result.failures == result.requests  # 404s count as failures


def test_nothing_listening_is_all_failures() -> None:
    result = run_load("http://127.0.0.1:9/", users=1, duration=0.5)
    assert result.failures == result.requests


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"users": 0}, "users must be at least 1"),
        ({"duration": 0}, "duration must be a positive number"),
        ({"tool": "ab"}, "tool must be 'locust', 'wrk' or 'auto'"),
    ],
)
def test_rejects_bad_arguments(options: dict[str, object], message: str) -> None:
    with pytest.raises(LoadError, match=message):
        run_load("http://127.0.0.1:9/", **options)  # type: ignore[arg-type]


def test_rejects_a_url_that_is_not_http() -> None:
    with pytest.raises(LoadError, match="Not an http"):
        run_load("ftp://example.com/", users=1, duration=1)


def test_wrk_is_never_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load.shutil, "which", lambda name: None)
    with pytest.raises(LoadError, match="wrk is not installed"):
        run_load("http://127.0.0.1:9/", tool="wrk")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_measures_a_live_server(server: LiveServer) -> None:
    result = run_load(server.url + "/", users=4, duration=1, tool="wrk")
    assert result.tool == "wrk"
    assert result.failures == 0
    assert result.requests > 20
