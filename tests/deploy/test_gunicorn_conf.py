"""deploy/gunicorn.conf.py: gunicorn with uvicorn workers serving the reference."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from coursekit.services.base import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
#: A limit that catches a hang; two workers start in about a second.
START_TIMEOUT = 60.0


def gunicorn_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), *args]


def printed_config(**env: str) -> dict[str, str]:
    done = subprocess.run(
        gunicorn_command("--print-config", "course_app.main:app"),
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return dict(re.findall(r"^(\w+)\s+= (.*)$", done.stdout, re.MULTILINE))


def test_settings_come_from_the_environment() -> None:
    config = printed_config(WORKERS="3", HOST="127.0.0.1", PORT="9999")
    assert config["workers"] == "3"
    assert config["bind"] == "['127.0.0.1:9999']"
    assert config["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert config["forwarded_allow_ips"] == "['127.0.0.1']"
    assert int(config["graceful_timeout"]) > 0


def test_the_app_keeps_idle_connections_longer_than_nginx() -> None:
    nginx_conf = (ROOT / "deploy" / "nginx.conf").read_text()
    (nginx_idle,) = re.findall(
        r"^\s+keepalive_timeout (\d+)s;", nginx_conf, re.MULTILINE
    )
    assert int(printed_config()["keepalive"]) > int(nginx_idle)


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "2",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'course.db'}",
        "SECRET_KEY": "a-test-key-that-is-long-enough-for-hs256",
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            gunicorn_command("course_app.main:app"),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, port, log
    finally:
        if process.poll() is None:  # the test failed before it stopped it
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_two_workers_serve_health_and_stop_cleanly(
    gunicorn: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, log = gunicorn
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, log.read_text()
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            if response.status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    assert response.json() == {"status": "ok", "database": "ok"}
    workers = psutil.Process(process.pid).children()
    assert len(workers) == 2
    # Both workers got through the app's startup (each creates the tables).
    while log.read_text().count("Application startup complete.") < 2:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    # As `docker stop` does: SIGTERM to gunicorn alone, which stops its workers.
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    text = log.read_text()
    assert "Shutting down: Master" in text
    assert "Traceback" not in text
    assert not any(worker.is_running() for worker in workers)
