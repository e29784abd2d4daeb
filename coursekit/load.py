"""Drive a URL with a real load generator and report what it measured.

``run_load(url, users=100, duration=2)`` runs `Locust <https://locust.io>`_
headless in a process of its own: ``users`` simulated clients, each sending
the next request as soon as the previous answer is in, on keep-alive
connections (locust's ``FastHttpUser``). Spawning the users is left out of
the numbers (locust's ``--reset-stats``), and the run ends ``duration``
seconds after the last user started. ``tool="wrk"`` uses wrk instead when it
is on ``PATH`` (it is not needed).

Locust runs in a subprocess, never in the notebook's kernel: it monkey-patches
the standard library for gevent on import, which would break the kernel.

The result holds requests per second, latency percentiles and failures; its
``str()`` is one line to print in a lesson.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from coursekit.errors import CourseError

__all__ = ["LoadError", "LoadResult", "parse_wrk", "percentile", "run_load"]

#: Seconds a run may take beyond ``duration`` (start-up, spawning, shutdown).
OVERHEAD_TIMEOUT = 60.0

# The locustfile locust runs; the request to make comes in through the
# environment as JSON.
_LOCUSTFILE = """\
import json
import os

import gevent
from locust import FastHttpUser, constant, events, task

SPEC = json.loads(os.environ["COURSEKIT_LOAD_SPEC"])


class LoadUser(FastHttpUser):
    wait_time = constant(0)
    host = SPEC["host"]

    @task
    def request(self):
        self.client.get(SPEC["path"], headers=SPEC["headers"], name="load")


@events.init.add_listener
def stop_after_duration(environment, **kwargs):
    # Measure for `duration` seconds once every user runs (--reset-stats
    # clears what the ramp-up counted), then stop.
    def measure(**kwargs):
        gevent.spawn_later(SPEC["duration"], environment.runner.quit)

    environment.events.spawning_complete.add_listener(measure)
"""


class LoadError(CourseError):
    """The load generator could not run; the message says why."""


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured.

    Attributes:
        tool: the load generator, e.g. ``"locust"``.
        url: the URL requested.
        users: concurrent clients (locust users, wrk connections).
        seconds: length of the measured window.
        requests: requests completed in that window.
        failures: requests that failed (HTTP status >= 400, or no answer).
        rps: requests per second.
        p50_ms, p90_ms, p99_ms: latency percentiles in milliseconds.
        command: the command line that was run.
    """

    tool: str
    url: str
    users: int
    seconds: float
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    command: list[str] = field(repr=False, default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.rps:8,.0f} req/s   p50 {self.p50_ms:5.0f} ms   "
            f"p90 {self.p90_ms:5.0f} ms   p99 {self.p99_ms:5.0f} ms   "
            f"{self.failures} failed of {self.requests:,} "
            f"({self.users} users, {self.seconds:.1f} s, {self.tool})"
        )


def percentile(histogram: Mapping[float, int], fraction: float) -> float:
    """The value below which ``fraction`` of the samples in ``histogram`` lie.

    ``histogram`` maps a value to how many samples had it (locust's
    ``response_times``). Returns 0.0 for an empty histogram.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
    total = sum(histogram.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))  # pragma: no cover (rank <= total)


def _tail(text: str, lines: int = 12) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in kept) or "    (no output)"


def _locust_result(
    url: str,
    users: int,
    seconds: float,
    data: list[dict[str, object]],
    command: list[str],
) -> LoadResult:
    if not data:
        raise LoadError("Locust ran but recorded no requests at all.")
    entry = data[0]
    raw_times = entry["response_times"]
    assert isinstance(raw_times, dict)
    histogram = {float(k): int(v) for k, v in raw_times.items()}
    requests = int(str(entry["num_requests"]))
    failures = int(str(entry["num_failures"]))
    # The stats were reset when the last user started and the run stopped
    # `seconds` later, dropping requests still in flight: every request
    # counted was answered within that window. (Locust's own timestamps are
    # those of requests sent, which ends the window a latency too early.)
    return LoadResult(
        tool="locust",
        url=url,
        users=users,
        seconds=seconds,
        requests=requests,
        failures=failures,
        rps=requests / seconds,
        p50_ms=percentile(histogram, 0.50),
        p90_ms=percentile(histogram, 0.90),
        p99_ms=percentile(histogram, 0.99),
        command=command,
    )


def _run_locust(
    url: str,
    users: int,
    duration: float,
    headers: Mapping[str, str],
    spawn_rate: float,
) -> LoadResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LoadError(f"Not an http(s) URL: {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    spec = {
        "host": f"{parts.scheme}://{parts.netloc}",
        "path": path,
        "headers": dict(headers),
        "duration": duration,
    }
    with tempfile.TemporaryDirectory(prefix="coursekit-load-") as folder:
        locustfile = Path(folder, "locustfile.py")
        locustfile.write_text(_LOCUSTFILE, encoding="utf-8")
        stats_file = Path(folder, "stats.json")  # locust adds the ".json"
        # A backstop only: the locustfile stops the run after `duration`
        # seconds of full load; this limit counts from the start.
        backstop = math.ceil(duration + users / spawn_rate + 30)
        command = [
            sys.executable,
            "-m",
            "locust",
            "--locustfile",
            str(locustfile),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            f"{spawn_rate:g}",
            "--run-time",
            f"{backstop}s",
            "--reset-stats",
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
            "--json-file",
            str(stats_file.with_suffix("")),
        ]
        env = {**os.environ, "COURSEKIT_LOAD_SPEC": json.dumps(spec)}
        try:
            done = subprocess.run(
                command,
                cwd=folder,  # locust reads locust.conf / pyproject.toml from here
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=duration + users / spawn_rate + OVERHEAD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise LoadError(
                f"Locust did not finish within {duration:g} s plus "
                f"{OVERHEAD_TIMEOUT:g} s of slack."
            ) from None
        if done.returncode != 0 or not stats_file.exists():
            hint = ""
            if "No module named locust" in done.stderr:
                hint = "\nInstall it: pip install locust"
            raise LoadError(
                f"Locust failed (exit code {done.returncode}).{hint}\n"
                f"Its last output:\n{_tail(done.stderr or done.stdout)}"
            )
        data = json.loads(stats_file.read_text(encoding="utf-8"))
    command[command.index("--locustfile") + 1] = "locustfile.py"
    command[command.index("--json-file") + 1] = "stats"
    return _locust_result(url, users, duration, data, command)


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise LoadError(f"Cannot read wrk's latency {text!r}.")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def parse_wrk(output: str, *, url: str, users: int, command: list[str]) -> LoadResult:
    """A ``LoadResult`` from the output of ``wrk --latency``."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if done is None:
        raise LoadError(f"Cannot read wrk's output:\n{_tail(output)}")
    requests = int(done.group(1))
    seconds = _wrk_ms(done.group(2) + done.group(3)) / 1000
    failures = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        failures += int(non_2xx.group(1))
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors:
        failures += sum(int(n) for n in errors.groups())
    latency = {
        int(m.group(1)): _wrk_ms(m.group(2))
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", output, re.MULTILINE)
    }
    return LoadResult(
        tool="wrk",
        url=url,
        users=users,
        seconds=seconds,
        requests=requests,
        failures=failures,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=latency.get(50, 0.0),
        p90_ms=latency.get(90, 0.0),
        p99_ms=latency.get(99, 0.0),
        command=command,
    )


def _run_wrk(
    wrk: str, url: str, users: int, duration: float, headers: Mapping[str, str]
) -> LoadResult:
    command = [
        wrk,
        "--threads",
        "1",
        "--connections",
        str(users),
        "--duration",
        f"{max(1, round(duration))}s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    command.append(url)
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=duration + OVERHEAD_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise LoadError(f"wrk did not finish within {duration:g} s.") from None
    if done.returncode != 0:
        raise LoadError(
            f"wrk failed (exit code {done.returncode}):\n"
            f"{_tail(done.stderr or done.stdout)}"
        )
    command[0] = "wrk"
    return parse_wrk(done.stdout, url=url, users=users, command=command)


def run_load(
    url: str,
    *,
    users: int = 10,
    duration: float = 2.0,
    headers: Mapping[str, str] | None = None,
    spawn_rate: float | None = None,
    tool: str = "locust",
) -> LoadResult:
    """Send requests to ``url`` from ``users`` concurrent clients for a while.

    Args:
        url: the full URL, path and query included.
        users: concurrent clients, each on its own keep-alive connection,
            each sending its next request as soon as it has an answer.
        duration: seconds to measure, after every user has started.
        headers: request headers, e.g. ``{"Accept-Encoding": "gzip"}``.
            Locust asks for ``gzip, deflate, br`` unless told otherwise.
        spawn_rate: users started per second (locust); default: all of
            them within about a fifth of a second.
        tool: ``"locust"``; ``"wrk"`` (must be on ``PATH``); or ``"auto"``,
            wrk when present, else locust.

    Returns:
        The measured requests per second, latencies and failures.

    Raises:
        LoadError: the tool is missing, failed, or did not finish.
    """
    if users < 1:
        raise LoadError(f"users must be at least 1, not {users}.")
    if not duration > 0:
        raise LoadError(
            f"duration must be a positive number of seconds, not {duration}."
        )
    if tool not in ("locust", "wrk", "auto"):
        raise LoadError(f"tool must be 'locust', 'wrk' or 'auto', not {tool!r}.")
    wrk = shutil.which("wrk")
    if tool == "wrk" and wrk is None:
        raise LoadError("wrk is not installed (not on PATH); use tool='locust'.")
    if tool in ("wrk", "auto") and wrk is not None:
        return _run_wrk(wrk, url, users, duration, headers or {})
    rate = spawn_rate if spawn_rate is not None else max(users * 5.0, 1.0)
    return _run_locust(url, users, duration, headers or {}, rate)
