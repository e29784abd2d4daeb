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
#: A run lasts at least this long, then until it has made the requests the
#: test needs (UNTIL): on a busy machine the members' sign-up and login, two
#: Argon2 hashes each, can take longer than a run of fixed length.
SECONDS = 3
#: The limit that catches a hang, under the login limit's 60-s window.
MAX_SECONDS = 30
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


#: Loaded next to the locustfile under test: after SECONDS, it ends the run
#: as soon as locust has counted every request named in $UNTIL (a JSON
#: object, "METHOD name": count; "*": all requests together) as often.
UNTIL = """
import collections
import json
import os
import time

import gevent
from locust import events

UNTIL = json.loads(os.environ["UNTIL"])
MIN_SECONDS = float(os.environ["MIN_SECONDS"])
counted = collections.Counter()


@events.request.add_listener
def count(request_type, name, **kwargs):
    counted[f"{request_type} {name}"] += 1
    counted["*"] += 1


@events.test_start.add_listener
def stop_when_done(environment, **kwargs):
    def watch():
        started = time.monotonic()
        while time.monotonic() - started < MIN_SECONDS or any(
            counted[name] < count for name, count in UNTIL.items()
        ):
            gevent.sleep(0.05)
        environment.runner.quit()

    gevent.spawn(watch)
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
    url: str,
    folder: Path,
    until: dict[str, int],
    locustfile: Path = LOCUSTFILE,
    users: int = USERS,
) -> tuple[list[dict[str, object]], list[dict[str, str]]]:
    """Run it as coursekit.load runs Locust: a subprocess, stats as JSON.

    The run lasts SECONDS, then until the requests in ``until`` are counted
    (UNTIL), at most MAX_SECONDS. Returns the statistics' entries and the
    exceptions the tasks raised.
    """
    stats = folder / "stats"  # locust adds ".json"
    helper = folder / "run_until.py"
    helper.write_text(UNTIL)
    done = subprocess.run(
        [
            sys.executable, "-m", "locust",
            "--locustfile", f"{locustfile},{helper}",
            "--host", url,
            "--headless",
            "--users", str(users),
            "--spawn-rate", str(users),
            "--run-time", f"{MAX_SECONDS}s",
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
            "UNTIL": json.dumps(until),
            "MIN_SECONDS": str(SECONDS),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(LOCUSTFILE.parent), os.environ.get("PYTHONPATH")])
            ),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + OVERHEAD_TIMEOUT,
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
    # Members sign up and log in (on_start), then use the token; visitors
    # read the catalogue.
    needed = {"POST /users/": 1, "POST /token": 1, "GET /users/me": 1}
    needed |= {"GET /catalogue": 1, "*": USERS}
    entries, exceptions = run_locustfile(app.url, tmp_path, needed)
    requests = counts(entries, "num_requests")
    failures = counts(entries, "num_failures")
    print(requests)
    assert all(count == 0 for count in failures.values()), failures
    assert exceptions == []
    assert requests.get("POST /users/", 0) >= 1
    assert requests.get("POST /token", 0) >= 1
    assert requests.get("GET /users/me", 0) >= 1
    assert requests.get("GET /catalogue", 0) >= 1
    assert sum(requests.values()) >= USERS


@pytest.mark.slow
def test_logins_over_the_limit_are_counted_apart_not_failed(
    limited_app: ProcessServer, tmp_path: Path
) -> None:
    eager = tmp_path / "eager_members.py"
    eager.write_text(EAGER_MEMBERS)
    until = {"POST /token (limited)": 1}
    entries, exceptions = run_locustfile(
        limited_app.url, tmp_path, until, eager, users=2
    )
    requests = counts(entries, "num_requests")
    failures = counts(entries, "num_failures")
    print(requests)
    # The 429s are the limit working: on a line of their own, not failures;
    # no task raised, and /users/me still works with the token kept.
    assert all(count == 0 for count in failures.values()), failures
    assert exceptions == [], exceptions
    assert requests.get("POST /token (limited)", 0) >= 1
    assert 1 <= requests.get("POST /token", 0) <= 2 * LIMIT  # LIMIT per member
