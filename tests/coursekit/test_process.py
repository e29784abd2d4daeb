"""coursekit.process: uvicorn in a process group of its own, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest

from coursekit.process import (
    ProcessServer,
    ProcessServerError,
    serve_gunicorn,
    serve_process,
)

# A raw ASGI app: no framework to import, so each server starts quickly.
APP = textwrap.dedent(
    """
    import asyncio
    import os


    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await asyncio.sleep(float(os.environ.get("STARTUP_DELAY", "0")))
                    if "ONE_SLOW_WORKER" in os.environ:
                        try:  # the first worker here starts at once, others later
                            os.close(os.open("first", os.O_CREAT | os.O_EXCL))
                        except FileExistsError:
                            await asyncio.sleep(1)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/cpu":
            sum(range(3_000_000))
        body = f"{os.getpid()} {os.environ.get('GREETING', '')}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    """
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "tiny.py").write_text(APP, encoding="utf-8")
    return tmp_path


def group_pids(server: ProcessServer) -> set[int]:
    root = psutil.Process(server.pid)
    return {root.pid, *(child.pid for child in root.children(recursive=True))}


def wait_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    """The pids still alive after waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if psutil.pid_exists(pid) and not _zombie(pid)}
        time.sleep(0.05)
    return alive


def our_servers() -> set[int]:
    """The uvicorn processes this test process started and has not reaped."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):  # gone, or a zombie already
            if "uvicorn" in child.cmdline():
                pids.add(child.pid)
    return pids


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_serves_with_workers_and_stops_the_whole_group(app_dir: Path) -> None:
    with serve_process("tiny:app", app_dir=app_dir, workers=2, show=False) as server:
        assert server.running
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.port > 0
        assert httpx.get(server.url + "/").status_code == 200
        assert server.logs().count("Application startup complete.") == 2
        pids = group_pids(server)
        assert len(pids) >= 3  # uvicorn's supervisor and two workers
    assert not server.running
    assert wait_gone(pids) == set()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/", timeout=1)


def test_waits_for_every_worker(app_dir: Path) -> None:
    env = {"ONE_SLOW_WORKER": "1"}
    with serve_process(
        "tiny:app", app_dir=app_dir, workers=2, env=env, show=False
    ) as server:
        assert server.logs().count("Application startup complete.") == 2


def test_shows_the_command_it_runs(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_process("tiny:app", app_dir=app_dir) as server:
        pass
    expected = (
        "python -m uvicorn tiny:app --host 127.0.0.1 --port 0 --workers 1 "
        "--log-level info --no-access-log"
    )
    assert capsys.readouterr().out == f"$ {expected}\n"
    assert server.command_line == expected
    assert server.command[0] == sys.executable


def test_environment_reaches_the_server(app_dir: Path) -> None:
    env = {"GREETING": "hello from the test"}
    with serve_process("tiny:app", app_dir=app_dir, env=env, show=False) as server:
        pid, greeting = httpx.get(server.url + "/").text.split(" ", 1)
    assert greeting == "hello from the test"
    assert int(pid) != os.getpid()


def test_stopped_when_the_with_block_fails(app_dir: Path) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        serve_process("tiny:app", app_dir=app_dir, show=False) as server,
    ):
        pids = group_pids(server)
        1 / 0  # noqa: B018
    assert wait_gone(pids) == set()


def test_stop_twice_is_harmless(app_dir: Path) -> None:
    server = serve_process("tiny:app", app_dir=app_dir, show=False)
    server.stop()
    server.stop()
    assert not server.running


def test_a_failed_import_raises_with_uvicorns_message(app_dir: Path) -> None:
    with pytest.raises(ProcessServerError) as error:
        serve_process("nothere:app", app_dir=app_dir, show=False)
    message = str(error.value)
    assert message.startswith("The server exited with code ")
    assert "Its last output:" in message
    assert 'Could not import module "nothere"' in message


def test_a_startup_that_hangs_times_out_and_is_stopped(app_dir: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ProcessServerError) as error:
        serve_process(
            "tiny:app",
            app_dir=app_dir,
            env={"STARTUP_DELAY": "60"},
            startup_timeout=1.0,
            show=False,
        )
    assert time.monotonic() - started < 15
    assert "was not ready within 1 s (0 of 1 workers started" in str(error.value)
    assert "Its last output:" in str(error.value)
    assert "Waiting for application startup." in str(error.value)
    assert wait_gone(our_servers()) == set()


def test_stopped_when_the_starting_process_is_killed(app_dir: Path) -> None:
    # The kernel may die without running any cleanup (kill -9, out of memory):
    # the watchdog must still end the server's process group.
    script = textwrap.dedent(
        f"""
        import time
        from coursekit.process import serve_process

        server = serve_process("tiny:app", app_dir={str(app_dir)!r}, show=False)
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert parent.stdout is not None
        uvicorn_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(uvicorn_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert wait_gone({uvicorn_pid}) == set()
    finally:
        parent.kill()
        parent.wait(5)
        if parent.stdout is not None:
            parent.stdout.close()


def test_cpu_seconds_counts_the_workers(app_dir: Path) -> None:
    with serve_process("tiny:app", app_dir=app_dir, workers=2, show=False) as server:
        before = server.cpu_seconds()
        with httpx.Client(base_url=server.url) as client:
            for _ in range(5):
                client.get("/cpu")
        used = server.cpu_seconds() - before
    assert used > 0.05


def test_worker_pids_are_the_workers_and_follow_a_restart(app_dir: Path) -> None:
    with serve_process("tiny:app", app_dir=app_dir, workers=2, show=False) as server:
        first, second = server.worker_pids()
        assert {first, second} < group_pids(server)
        os.kill(first, signal.SIGKILL)  # uvicorn replaces a worker that dies
        deadline = time.monotonic() + 20
        while len(server.worker_pids()) < 2 or first in server.worker_pids():
            assert time.monotonic() < deadline, server.logs()
            time.sleep(0.05)
        assert server.worker_pids()[0] == second  # the oldest first
    assert server.worker_pids() == []


def test_gunicorn_serves_with_uvicorn_workers_and_stops_the_whole_group(
    app_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_gunicorn("tiny:app", app_dir=app_dir, workers=2) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url + "/").status_code == 200
        assert server.logs().count("Application startup complete.") == 2
        assert len(server.worker_pids()) == 2
        pids = group_pids(server)
    assert wait_gone(pids) == set()
    expected = (
        "python -m gunicorn tiny:app --worker-class uvicorn_worker.UvicornWorker "
        "--workers 2 --bind 127.0.0.1:0 --log-level info --no-control-socket"
    )
    assert capsys.readouterr().out == f"$ {expected}\n"
    assert "Using worker: uvicorn_worker.UvicornWorker" in server.logs()


def test_gunicorn_reads_its_config_file_and_the_environment(app_dir: Path) -> None:
    # deploy/gunicorn.conf.py's way: settings from the environment.
    (app_dir / "gunicorn.conf.py").write_text(
        "import os\ntimeout = int(os.environ['WORKER_TIMEOUT'])\n", encoding="utf-8"
    )
    env = {"WORKER_TIMEOUT": "7", "GREETING": "from gunicorn"}
    with serve_gunicorn(
        "tiny:app", app_dir=app_dir, config="gunicorn.conf.py", env=env, show=False
    ) as server:
        assert httpx.get(server.url + "/").text.endswith(" from gunicorn")
    assert server.command[3:5] == ["--config", "gunicorn.conf.py"]


def test_gunicorn_that_cannot_import_the_app_raises_with_its_output(
    app_dir: Path,
) -> None:
    with pytest.raises(ProcessServerError) as error:
        serve_gunicorn("nothere:app", app_dir=app_dir, show=False)
    message = str(error.value)
    assert message.startswith("The server exited with code ")
    assert "No module named 'nothere'" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "workers must be at least 1, not 0."),
        ({"app_dir": "/no/such/folder"}, "There is no folder /no/such/folder"),
    ],
)
@pytest.mark.parametrize("serve", [serve_process, serve_gunicorn])
def test_rejects_bad_arguments(
    serve: object, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ProcessServerError, match=message):
        serve("tiny:app", show=False, **options)  # type: ignore[operator]
