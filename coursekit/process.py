"""An app served by uvicorn in a separate process, the way production runs it.

``serve()`` keeps the server inside the kernel, which is what a lesson wants
for talking to an app. Measuring wants the opposite: a server with its own
processes (``--workers``), its own event loop (uvloop when installed) and
nothing of the notebook's in its way::

    with serve_process("perf_app:app", app_dir=folder, workers=2) as server:
        httpx.get(server.url + "/")

``serve_gunicorn`` does the same with gunicorn as the process manager and
uvicorn's worker class, as ``deploy/Dockerfile`` runs the app.

``serve_process`` runs ``python -m uvicorn`` in ``app_dir``, shows the exact
command line, and returns once every worker has finished its startup and the
server answers HTTP. By default uvicorn is given ``--port 0`` and picks a
free port itself (no race with other programs); the port is read from its
"Uvicorn running on ..." line. Uvicorn and its workers run in a process
group of their own, and stopping ends the whole group. A server is stopped
when its ``with`` block ends (a failing cell included), at the kernel's
normal exit, and even when the kernel is killed: a small watchdog process
ends the group as soon as the process that started it is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from coursekit.errors import CourseError

__all__ = [
    "ProcessServer",
    "ProcessServerError",
    "release_watchdog",
    "serve_gunicorn",
    "serve_process",
    "start_watchdog",
    "stop_all",
    "stop_group",
]

#: The line each uvicorn worker logs once its app's startup (lifespan) is done.
STARTUP_DONE = "Application startup complete."
#: The line each worker logs when it starts, lifespan or not.
PROCESS_STARTED = "Started server process"
#: The line uvicorn (or gunicorn) logs once it listens, with its port.
LISTENING = re.compile(r"(?:Uvicorn running on|Listening at:) (https?)://(\S+):(\d+)")
#: gunicorn's worker class for ASGI apps: each worker is a uvicorn server.
GUNICORN_WORKER = "uvicorn_worker.UvicornWorker"
#: Seconds to wait for every worker to be ready. A limit that catches a hang:
#: on a busy two-core machine, two workers importing an app took over 30 s.
STARTUP_TIMEOUT = 120.0
#: Output lines kept for error messages and ``logs()``.
LOG_LINES = 200

# Runs in its own process: blocks until the pipe from the process that started
# the server closes. Closed after "stopped" was written, the server is already
# stopped; closed without it, that process died (a killed kernel), and the
# watchdog ends the server's process group, politely first.
_WATCHDOG = """\
import os, signal, sys, time
group = int(sys.argv[1])
if sys.stdin.buffer.read() == b"stopped":
    sys.exit(0)
for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0.0)):
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        break
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            sys.exit(0)
        time.sleep(0.05)
"""


def start_watchdog(group: int) -> subprocess.Popen[bytes]:
    """A process that ends process group ``group`` once ours is gone.

    Write ``b"stopped"`` to its stdin and close it after stopping the group
    yourself (see ``release_watchdog``); if our process dies first, the pipe
    closes without it and the watchdog ends the group: SIGTERM, then SIGKILL.
    """
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(group)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a kernel interrupt must not reach it
    )


def release_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    """Tell a watchdog the group was stopped on purpose, and let it exit."""
    if watchdog.stdin is not None and not watchdog.stdin.closed:
        with contextlib.suppress(OSError):
            watchdog.stdin.write(b"stopped")
        with contextlib.suppress(OSError):
            watchdog.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        watchdog.wait(5.0)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """End ``process`` and its process group: SIGTERM, then SIGKILL.

    For a process started with ``start_new_session=True``. Whatever is still
    in the group after ``timeout`` seconds (children can outlive their
    parent) gets SIGKILL.
    """
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)


_running: set[ProcessServer] = set()
_running_lock = threading.Lock()


class ProcessServerError(CourseError):
    """The server process could not be started; the message says why."""


def _display_command(command: Sequence[str]) -> str:
    # The interpreter's absolute path says nothing to a reader (and differs
    # between machines): it is this environment's `python`.
    shown = ["python", *command[1:]] if command[0] == sys.executable else command
    return shlex.join(shown)


def _option(command: Sequence[str], name: str) -> str | None:
    """The value of the last ``name`` option in ``command`` (click's rule)."""
    value = None
    for index, arg in enumerate(command[:-1]):
        if arg == name:
            value = command[index + 1]
    return value


class ProcessServer:
    """A uvicorn (or gunicorn) server running in a process group of its own.

    Attributes:
        command: the argument list that was run.
        command_line: the same as a shell line, with ``python`` for this
            environment's interpreter.
        url: base URL, e.g. ``http://127.0.0.1:54321`` (once it listens).
        port: the TCP port it listens on (once it listens).
        workers: how many worker processes uvicorn was asked for.
        app_dir: the folder it runs in (where ``module:app`` is imported from).
        pid: the process id of the main process (uvicorn's, or gunicorn's
            arbiter), which leads the group.
    """

    def __init__(
        self,
        command: list[str],
        *,
        workers: int,
        app_dir: Path,
        env: dict[str, str],
    ) -> None:
        self.command = command
        self.command_line = _display_command(command)
        self.workers = workers
        self.app_dir = app_dir
        self.url = ""
        self.port = 0
        lifespan_off = _option(command, "--lifespan") == "off"
        self._ready_marker = PROCESS_STARTED if lifespan_off else STARTUP_DONE
        self._lines: deque[str] = deque(maxlen=LOG_LINES)
        self._ready_lines = 0
        self._listening: re.Match[str] | None = None
        self._lines_lock = threading.Lock()
        self._stopped = False
        self._process = subprocess.Popen(
            command,
            cwd=app_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, apart from ours
        )
        self.pid = self._process.pid
        self._watchdog = start_watchdog(self.pid)
        self._reader = threading.Thread(
            target=self._read_output, name=f"coursekit-process-{self.pid}", daemon=True
        )
        self._reader.start()

    # -- output ------------------------------------------------------------

    def _read_output(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            with self._lines_lock:
                self._lines.append(line)
                if self._ready_marker in line:
                    self._ready_lines += 1
                if self._listening is None:
                    self._listening = LISTENING.search(line)
        stream.close()

    def logs(self) -> str:
        """The server's recent output (uvicorn's log lines), oldest first."""
        with self._lines_lock:
            return "\n".join(self._lines)

    def _tail(self, lines: int = 15) -> str:
        with self._lines_lock:
            tail = list(self._lines)[-lines:]
        return "\n".join(f"    {line}" for line in tail) or "    (no output)"

    def worker_pids(self) -> list[int]:
        """The process ids of the workers running now, in the order they started.

        The main process's children, but for the resource tracker that
        ``multiprocessing`` may start beside uvicorn's workers.
        """
        try:
            children = psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []
        workers = []
        for child in children:
            with contextlib.suppress(psutil.Error):  # exited meanwhile
                if "resource_tracker" not in " ".join(child.cmdline()):
                    workers.append((child.create_time(), child.pid))
        return [pid for _, pid in sorted(workers)]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its workers.

        Take it before and after a load run: the difference divided by the
        run's seconds is how many cores the server kept busy.
        """
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    # -- lifecycle ---------------------------------------------------------

    @property
    def running(self) -> bool:
        """True until the server is stopped or its main process exits."""
        return not self._stopped and self._process.poll() is None

    def _wait_ready(self, timeout: float, health_path: str) -> None:
        deadline = time.monotonic() + timeout
        answered = False
        client = httpx.Client(timeout=1.0, trust_env=False)
        try:
            while True:
                code = self._process.poll()
                if code is not None:
                    self._reader.join(1.0)
                    self.stop()
                    raise ProcessServerError(
                        f"The server exited with code {code} before it was ready. "
                        f"Its last output:\n{self._tail()}"
                    )
                with self._lines_lock:
                    started, listening = self._ready_lines, self._listening
                if listening is not None and not self.url:
                    scheme, host, port = listening.groups()
                    self.port = int(port)
                    self.url = f"{scheme}://{host}:{port}"
                if self.url and not answered:
                    with contextlib.suppress(httpx.TransportError):
                        client.get(self.url + health_path)
                        answered = True
                if answered and started >= self.workers:
                    return
                if time.monotonic() > deadline:
                    self.stop(timeout=1.0)  # nothing started: nothing to finish
                    state = "answering HTTP" if answered else "no HTTP answer"
                    raise ProcessServerError(
                        f"The server was not ready within {timeout:g} s "
                        f"({started} of {self.workers} workers started, {state}). "
                        f"Its last output:\n{self._tail()}"
                    )
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server and all its workers; safe to call twice.

        The process group gets SIGTERM (uvicorn's graceful shutdown), and
        SIGKILL for whatever is left after ``timeout`` seconds.
        """
        with _running_lock:
            _running.discard(self)
        if not self._stopped:
            self._stopped = True
            # Workers can outlive their parent: end the group, not just it.
            stop_group(self._process, timeout)
        release_watchdog(self._watchdog)
        self._reader.join(2.0)

    def __enter__(self) -> ProcessServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ProcessServer {state}: {self.command_line}>"


def serve_process(
    target: str,
    *,
    app_dir: str | Path = ".",
    workers: int = 1,
    host: str = "127.0.0.1",
    port: int = 0,
    env: Mapping[str, str] | None = None,
    uvicorn_args: Sequence[str] = (),
    startup_timeout: float = STARTUP_TIMEOUT,
    health_path: str = "/",
    show: bool = True,
) -> ProcessServer:
    """Run ``python -m uvicorn target`` in ``app_dir`` and wait until it serves.

    Args:
        target: ``"module:attribute"``, e.g. ``"perf_app:app"``.
        app_dir: the folder to run in; ``module`` is imported from there.
        workers: worker processes (``--workers``).
        host: interface to bind; loopback by default.
        port: 0 lets uvicorn pick a free port (read it back from ``.port``).
        env: extra environment variables for the server (settings such as
            ``CACHE_TTL_SECONDS``), on top of this process's environment.
        uvicorn_args: more uvicorn options, e.g. ``["--http", "h11"]``.
        startup_timeout: seconds to wait for every worker to be ready.
        health_path: a path requested to see that HTTP is answered; any
            status counts.
        show: print the command line that was run.

    Returns:
        The running server; use it in a ``with`` block, or call ``stop()``.

    Raises:
        ProcessServerError: the server exited or did not become ready in
            time; the message ends with the server's last output.
    """
    folder = _checked("serve_process", app_dir, workers)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        # Startup lines tell when each worker is ready; an access log line
        # per request would cost the server time under load.
        "--log-level",
        "info",
        "--no-access-log",
        *uvicorn_args,
    ]
    return _start(command, folder, workers, env, startup_timeout, health_path, show)


def serve_gunicorn(
    target: str,
    *,
    app_dir: str | Path = ".",
    config: str | Path | None = None,
    workers: int = 1,
    host: str = "127.0.0.1",
    port: int = 0,
    env: Mapping[str, str] | None = None,
    gunicorn_args: Sequence[str] = (),
    startup_timeout: float = STARTUP_TIMEOUT,
    health_path: str = "/",
    show: bool = True,
) -> ProcessServer:
    """Run ``python -m gunicorn target`` with uvicorn's workers; wait until it serves.

    The same as ``serve_process``, with gunicorn managing the processes:
    each worker is ``uvicorn_worker.UvicornWorker`` (the ``uvicorn-worker``
    package), a uvicorn server running the app. gunicorn restarts a worker
    that exits, and also one that stops reporting for its ``timeout`` (an
    event loop blocked by a call that never returns).

    Args:
        config: a gunicorn config file, such as a copy of
            ``deploy/gunicorn.conf.py``, relative to ``app_dir``. The
            command line's worker class, ``--workers`` and ``--bind`` take
            precedence over what it sets.
        gunicorn_args: more gunicorn options, e.g. ``["--timeout", "5"]``.

    The other arguments are ``serve_process``'s; ``port=0`` lets the system
    pick a free port, read back from gunicorn's "Listening at:" line.
    """
    folder = _checked("serve_gunicorn", app_dir, workers)
    command = [sys.executable, "-m", "gunicorn"]
    if config is not None:
        command += ["--config", str(config)]
    command += [
        target,
        "--worker-class",
        GUNICORN_WORKER,
        "--workers",
        str(workers),
        "--bind",
        f"{host}:{port}",
        # Each worker logs its startup, at level info, as uvicorn does.
        "--log-level",
        "info",
        # gunicorn 27 opens a control socket in the home folder by default;
        # two servers would share it.
        "--no-control-socket",
        *gunicorn_args,
    ]
    return _start(command, folder, workers, env, startup_timeout, health_path, show)


def _checked(caller: str, app_dir: str | Path, workers: int) -> Path:
    if os.name != "posix":
        raise ProcessServerError(
            f"{caller}() needs Linux, macOS or WSL (it uses process groups)."
        )
    if workers < 1:
        raise ProcessServerError(f"workers must be at least 1, not {workers}.")
    folder = Path(app_dir)
    if not folder.is_dir():
        raise ProcessServerError(f"There is no folder {folder} to run the app in.")
    return folder


def _start(
    command: list[str],
    folder: Path,
    workers: int,
    env: Mapping[str, str] | None,
    startup_timeout: float,
    health_path: str,
    show: bool,
) -> ProcessServer:
    process_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    if show:
        print(f"$ {_display_command(command)}")
    server = ProcessServer(
        command, workers=workers, app_dir=folder.resolve(), env=process_env
    )
    with _running_lock:
        _running.add(server)
    server._wait_ready(startup_timeout, health_path)
    return server


def stop_all() -> None:
    """Stop every server that ``serve_process()`` started and is still running."""
    with _running_lock:
        servers = list(_running)
    for server in servers:
        server.stop()


atexit.register(stop_all)
