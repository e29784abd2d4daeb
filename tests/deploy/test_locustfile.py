"""deploy/locustfile.py runs headless against the reference, without failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursekit.load import OVERHEAD_TIMEOUT
from coursekit.process import ProcessServer, serve_process

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "deploy" / "locustfile.py"
SECONDS = 3
USERS = 8


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ProcessServer]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'course.db'}",
        "SECRET_KEY": "a-test-key-that-is-long-enough-for-hs256",
    }
    with serve_process(
        "course_app.main:app", app_dir=ROOT, env=env, health_path="/health", show=False
    ) as server:
        yield server


def run_locustfile(url: str, folder: Path) -> list[dict[str, object]]:
    """Run it as coursekit.load runs Locust: a subprocess, stats as JSON."""
    stats = folder / "stats"  # locust adds ".json"
    done = subprocess.run(
        [
            sys.executable, "-m", "locust",
            "--locustfile", str(LOCUSTFILE),
            "--host", url,
            "--headless",
            "--users", str(USERS),
            "--spawn-rate", str(USERS),
            "--run-time", f"{SECONDS}s",
            "--only-summary",
            "--loglevel", "WARNING",
            "--exit-code-on-error", "0",
            "--json-file", str(stats),
        ],
        cwd=folder,  # locust reads locust.conf / pyproject.toml from here
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SECONDS + OVERHEAD_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    entries: list[dict[str, object]] = json.loads(
        stats.with_suffix(".json").read_text()
    )
    return entries


@pytest.mark.slow
def test_the_locustfile_runs_without_failures(
    app: ProcessServer, tmp_path: Path
) -> None:
    entries = run_locustfile(app.url, tmp_path)
    requests = {
        f"{e['method']} {e['name']}": int(str(e["num_requests"])) for e in entries
    }
    failures = {f"{e['method']} {e['name']}": e["num_failures"] for e in entries}
    print(requests)
    assert all(count == 0 for count in failures.values()), failures
    # Members signed up and logged in (on_start), visitors read the catalogue.
    assert requests.get("POST /users/", 0) >= 1
    assert requests.get("POST /token", 0) >= 1
    assert requests.get("GET /catalogue", 0) >= 1
    assert sum(requests.values()) >= USERS
