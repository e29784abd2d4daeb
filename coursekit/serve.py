"""A live uvicorn server inside the running Python process (a Jupyter kernel).

``uvicorn.run()`` cannot work in a kernel: the kernel's own event loop is
already running. ``serve()`` runs uvicorn on a fresh asyncio loop in a daemon
thread instead, so the notebook stays usable while the server answers real
HTTP requests on a real socket::

    server = serve(app)          # shows links to /docs and /redoc
    httpx.get(server.url + "/")  # talk to it from the notebook
    server.stop()

Re-running the cell replaces the previous server of the same ``name``, so the
learner never talks to a stale app by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import uvicorn

from coursekit import docs_assets, notebook_hints, proxy
from coursekit.errors import CourseError

__all__ = ["LiveServer", "ServeError", "running_servers", "serve"]

# In a kernel, uvicorn.run(app) in a cell now explains itself (see there).
notebook_hints.install()

#: How often a running server checks whether it was asked to stop. uvicorn's
#: own loop polls every 0.1 s; we wake it at once instead (see _Server).
_TICK = 0.1
_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

_registry: dict[str, LiveServer] = {}
#: Numbers the Unix-socket servers' threads (they have no port to be named by).
_uds_servers = itertools.count(1)
_registry_lock = threading.Lock()


class ServeError(CourseError):
    """The server could not be started; the message says why and what to do."""


class _Server(uvicorn.Server):
    """uvicorn's server, woken at once when asked to stop."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        # Same ticks as uvicorn's main_loop (date header, max requests), but
        # the wait between ticks ends as soon as stop() is called.
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _TICK)

    def request_exit(self, force: bool = False) -> None:
        """Ask the server to shut down; safe to call from any thread."""
        self.should_exit = True
        if force:
            self.force_exit = True
        loop, wake = self.loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(wake.set)


class _ThreadLogs(logging.Handler):
    """Keeps the log records that one server thread emits.

    uvicorn's loggers are global to the process; records are told apart by
    the thread that emitted them, so two servers never mix their logs.
    """

    def __init__(self, thread_name: str, maxlen: int) -> None:
        super().__init__(level=logging.INFO)
        self.thread_name = thread_name
        self.records: deque[logging.LogRecord] = deque(maxlen=maxlen)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName == self.thread_name:
            self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(record) for record in self.records]

    def failure(self) -> str | None:
        """The error the server logged last, as one line; an exception wins."""
        errors = [r for r in self.records if r.levelno >= logging.ERROR]
        for record in reversed(errors):
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                return f"{type(exc).__name__}: {exc}"
            message = record.getMessage()
            if message.startswith("Traceback"):
                # Starlette reports a failed lifespan as the traceback's text;
                # its last line is the exception.
                return message.strip().splitlines()[-1]
        return errors[-1].getMessage() if errors else None


def _route_uvicorn_logs_away_from_cells() -> None:
    # With no handler, uvicorn's records would reach the root logger, which a
    # kernel prints into whatever cell happens to be running. Server threads
    # attach their own _ThreadLogs handler to the "uvicorn" logger instead.
    # A uvicorn.run() tried earlier in the kernel leaves stream handlers from
    # uvicorn's default logging config behind: they would print too.
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.propagate = name != "uvicorn"
        logger.handlers = [h for h in logger.handlers if isinstance(h, _ThreadLogs)]


class LiveServer:
    """A uvicorn server running in a daemon thread of this process.

    Attributes:
        name: the key that a re-run of ``serve(..., name=...)`` replaces.
        url: base URL for code in this process, e.g. ``http://127.0.0.1:54321``.
        docs_url: the Swagger UI link a person opens in a browser (through
            jupyter-server-proxy under JupyterHub or Binder).
        redoc_url: the same for ReDoc.
        port: the bound TCP port.
    """

    def __init__(
        self,
        *,
        name: str,
        app: Any,
        server: _Server,
        sock: socket.socket,
        logs: _ThreadLogs,
        public_base: str,
    ) -> None:
        self.name = name
        self._app = app
        self._server = server
        self._sock = sock
        self._logs = logs
        address = sock.getsockname()
        #: The Unix socket's path, for a server started with ``uds=``.
        self.uds: str | None = address if isinstance(address, str) else None
        if self.uds is not None:
            self.host, self.port = "localhost", None
            self.url = "http://localhost"
        else:
            self.host, self.port = address[:2]
            self.url = f"http://{self.host}:{self.port}"
        self.public_base = public_base
        self.docs_url = f"{public_base}/docs"
        self.redoc_url = f"{public_base}/redoc"
        self._thread = threading.Thread(
            target=self._run, name=logs.thread_name, daemon=True
        )
        self._done = threading.Event()
        self._failure: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except SystemExit as exc:
            # uvicorn exits this way when the app's lifespan startup fails.
            self._failure = exc
        except BaseException as exc:
            self._failure = exc
        finally:
            self._done.set()

    def _start(self, timeout: float) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._done.wait(0.002):
                break
            if time.monotonic() > deadline:
                self._server.request_exit(force=True)
                self._done.wait(1.0)
                self._release()
                raise ServeError(
                    f"The server did not start within {timeout:g} s. The app's "
                    "startup (its lifespan) is probably waiting for something. "
                    "Check the startup code, or pass a larger startup_timeout=."
                )
        if not self._server.started:
            self._release()
            reason = self._logs.failure() or repr(self._failure)
            raise ServeError(
                f"The app failed while starting up: {reason}\n"
                "Its lifespan (or startup handler) raised an error. Fix it and "
                "run the cell again; server.logs() has the full log."
            )

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the server; requests still running get ``timeout`` s to finish.

        Safe to call twice. Returns once the port is free again.
        """
        with _registry_lock:
            if _registry.get(self.name) is self:
                del _registry[self.name]
        if self._done.is_set():
            self._release()
            return
        self._server.request_exit()
        if not self._done.wait(timeout):
            self._server.request_exit(force=True)
            self._done.wait(2.0)
        self._release()

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        logging.getLogger("uvicorn").removeHandler(self._logs)

    @property
    def app(self) -> Any:
        """The ASGI application this server was started with."""
        return self._app

    @property
    def running(self) -> bool:
        """True while the server thread is serving."""
        return self._server.started and not self._done.is_set()

    def logs(self) -> str:
        """The server's recent log lines (access log and errors), oldest first."""
        return "\n".join(self._logs.lines())

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- display -----------------------------------------------------------

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LiveServer {self.name!r} {state} at {self.url}>"

    def _repr_html_(self) -> str:
        if not self.running:
            return f"<p>Server <code>{self.name}</code> is stopped.</p>"
        return (
            f"<p>Server <code>{self.name}</code> is running. "
            f'Open <a href="{self.docs_url}" target="_blank">/docs</a> '
            f'(Swagger UI) or <a href="{self.redoc_url}" target="_blank">/redoc</a> '
            "(ReDoc) in your browser.</p>"
        )


def serve(
    app: Any,
    *,
    name: str = "app",
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    graceful_timeout: float = 1.0,
    show: bool = True,
    log_lines: int = 1000,
    uds: str | None = None,
    **uvicorn_options: Any,
) -> LiveServer:
    """Serve an ASGI ``app`` with uvicorn in a background thread and return at once.

    Args:
        app: the FastAPI (or any ASGI) application.
        name: servers are kept by name; serving again under the same name
            stops the previous one first (re-running a cell is safe).
        host: interface to bind; loopback by default, so nobody else on the
            network can reach the learner's app.
        port: 0 picks a free port (read it back from ``.port``); a port that
            another process holds raises ServeError.
        startup_timeout: seconds to wait for the app's startup to finish.
        graceful_timeout: seconds in-flight requests get when stopping.
        show: in a notebook, display links to ``/docs`` and ``/redoc``.
        log_lines: how many log lines ``.logs()`` keeps.
        uds: serve on this Unix socket instead of a TCP port (the grader
            does, from a sandbox without network); talk to it with
            ``httpx.HTTPTransport(uds=...)``.
        uvicorn_options: passed on to ``uvicorn.Config`` (e.g. ``http="h11"``).

    Raises:
        ServeError: the port is taken, or the app failed or hung on startup.
    """
    _stop_previous(name, port)
    if uds is not None:
        sock = _bind_unix(uds)
        bound_port, prefix, root_path = 0, None, ""
        public_base = "http://localhost"
    else:
        sock = _bind(host, port)
        bound_port = sock.getsockname()[1]
        prefix = proxy.proxy_prefix()
        root_path = proxy.root_path_for(bound_port, prefix)
        local_base = f"http://{host}:{bound_port}"
        public_base = root_path if prefix is not None else local_base

    _route_uvicorn_logs_away_from_cells()
    where = bound_port or f"uds{next(_uds_servers)}"
    thread_name = f"coursekit-serve-{name}-{where}"
    logs = _ThreadLogs(thread_name, maxlen=log_lines)
    logging.getLogger("uvicorn").addHandler(logs)

    # /docs and /redoc work without internet: their assets come from here.
    folder = docs_assets.asset_folder()
    asgi = docs_assets.OfflineDocs(app, folder) if folder is not None else app
    config = uvicorn.Config(
        asgi,
        loop="asyncio",
        log_config=None,
        root_path=root_path,
        timeout_graceful_shutdown=graceful_timeout,
        **uvicorn_options,
    )
    server = LiveServer(
        name=name,
        app=app,
        server=_Server(config),
        sock=sock,
        logs=logs,
        public_base=public_base,
    )
    server._start(startup_timeout)
    with _registry_lock:
        _registry[name] = server
    if show:
        _display(server)
    return server


def running_servers() -> Iterator[LiveServer]:
    """The servers started by ``serve()`` that are still registered."""
    with _registry_lock:
        yield from list(_registry.values())


def _stop_previous(name: str, port: int) -> None:
    with _registry_lock:
        previous = [
            s
            for key, s in _registry.items()
            if key == name or (port and s.port == port)
        ]
    for server in previous:
        server.stop()


def _bind(host: str, port: int) -> socket.socket:
    # Binding here, before the thread starts, turns "address in use" into an
    # immediate error in the learner's cell, and tells us the port that
    # port=0 picked before the app starts (the proxy's root_path needs it).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY on accepted
    # connections only when the protocol says TCP; without it each request on
    # a kept-alive connection waits ~40 ms for Nagle and delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"Port {port} on {host} is already in use by another program. "
                "Call serve(app) without port= to pick a free port, or stop "
                "whatever is using it."
            ) from None
        raise ServeError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    return sock


def _bind_unix(path: str) -> socket.socket:
    # A socket file left by an earlier server would make bind() fail.
    with contextlib.suppress(FileNotFoundError):
        if os.path.exists(path) and not os.path.isdir(path):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise ServeError(
            f"Cannot listen on the Unix socket {path}: {exc.strerror}."
        ) from None
    return sock


def _display(server: LiveServer) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        display(server)
