"""deploy/locustfile.py runs headless against the reference, without failures."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursekit.load import OVERHEAD_TIMEOUT
from coursekit.process import ProcessServer, serve_process
from coursekit.services import redis as redis_service
from tests.servers import start_or_skip

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "deploy" / "locustfile.py"
SECONDS = 3
USERS = 8
ENV = {"SECRET_KEY": "a-test-key-that-is-long-enough-for-hs256"}
#: The login limit of the limited app: a member's third login is refused.
LIMIT = 2

#: The locustfile's members, but logging in again almost every 0.05 s: they
#: meet the app's login limit within a second, as a normal run seldom does.
#: (Locust adds a subclass's tasks to those it inherits.)
EAGER_MEMBERS = """
from locust import constant, task

import locustfile  # deploy/locustfile.py, on PYTHONPATH


class EagerMember(locustfile.Member):
    wait_time = constant(0.05)

    @task(300)
    def log_in_often(self):
        self.log_in()
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ProcessServer]:
    env = ENV | {"DATABASE_URL": f"sqlite:///{tmp_path / 'course.db'}"}
    with serve_process(
        "course_app.main:app", app_dir=ROOT, env=env, health_path="/health", show=False
    ) as server:
        yield server


@pytest.fixture
def limited_app(tmp_path: Path) -> Iterator[ProcessServer]:
    """The reference with chapter 07's login limit: a Redis, LIMIT a minute."""
    with start_or_skip(redis_service.redis) as redis_server:
        env = ENV | {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'course.db'}",
            "REDIS_URL": redis_server.url,
            "LOGIN_ATTEMPTS_PER_MINUTE": str(LIMIT),
        }
        with serve_process(
            "course_app.main:app",
            app_dir=ROOT,
            env=env,
            health_path="/health",
            show=False,
        ) as server:
            yield server


def run_locustfile(
    url: str, folder: Path, locustfile: Path = LOCUSTFILE, users: int = USERS
) -> tuple[list[dict[str, object]], list[dict[str, str]]]:
    """Run it as coursekit.load runs Locust: a subprocess, stats as JSON.

    Returns the statistics' entries and the exceptions the tasks raised.
    """
    stats = folder / "stats"  # locust adds ".json"
    done = subprocess.run(
        [
            sys.executable, "-m", "locust",
            "--locustfile", str(locustfile),
            "--host", url,
            "--headless",
            "--users", str(users),
            "--spawn-rate", str(users),
            "--run-time", f"{SECONDS}s",
            "--only-summary",
            "--loglevel", "WARNING",
            "--exit-code-on-error", "0",
            "--json-file", str(stats),
            "--csv", str(stats),  # for stats_exceptions.csv
        ],
        cwd=folder,  # locust reads locust.conf / pyproject.toml from here
        env={
            **os.environ,
            "PYTHONWARNINGS": "ignore",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(LOCUSTFILE.parent), os.environ.get("PYTHONPATH")])
            ),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SECONDS + OVERHEAD_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    entries: list[dict[str, object]] = json.loads(
        stats.with_suffix(".json").read_text()
    )
    exceptions_csv = folder / "stats_exceptions.csv"
    with exceptions_csv.open(newline="") as rows:
        exceptions = list(csv.DictReader(rows))
    return entries, exceptions


def counts(entries: list[dict[str, object]], key: str) -> dict[str, int]:
    return {f"{e['method']} {e['name']}": int(str(e[key])) for e in entries}


@pytest.mark.slow
def test_the_locustfile_runs_without_failures(
    app: ProcessServer, tmp_path: Path
) -> None:
    entries, exceptions = run_locustfile(app.url, tmp_path)
    requests = counts(entries, "num_requests")
    failures = counts(entries, "num_failures")
    print(requests)
    assert all(count == 0 for count in failures.values()), failures
    assert exceptions == []
    # Members signed up and logged in (on_start), visitors read the catalogue.
    assert requests.get("POST /users/", 0) >= 1
    assert requests.get("POST /token", 0) >= 1
    assert requests.get("GET /catalogue", 0) >= 1
    assert sum(requests.values()) >= USERS


@pytest.mark.slow
def test_logins_over_the_limit_are_counted_apart_not_failed(
    limited_app: ProcessServer, tmp_path: Path
) -> None:
    eager = tmp_path / "eager_members.py"
    eager.write_text(EAGER_MEMBERS)
    entries, exceptions = run_locustfile(limited_app.url, tmp_path, eager, users=2)
    requests = counts(entries, "num_requests")
    failures = counts(entries, "num_failures")
    print(requests)
    # The 429s are the limit working: on a line of their own, not failures;
    # no task raised, and /users/me still works with the token kept.
    assert all(count == 0 for count in failures.values()), failures
    assert exceptions == [], exceptions
    assert requests.get("POST /token (limited)", 0) >= 1
    assert 1 <= requests.get("POST /token", 0) <= 2 * LIMIT  # LIMIT per member
