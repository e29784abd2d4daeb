"""A Redis server on loopback, for the production chapter's shared cache and limiter.

::

    from coursekit.services.redis import redis

    with redis() as server:
        server.url                  # redis://127.0.0.1:6xxxx/0
        server.client().ping()      # True

It keeps nothing on disk (no RDB snapshots, no append-only file): what the
course stores in Redis is a cache and counters, which may be lost; a
``durable`` one (the grader's queue) writes each change to disk first. ``stop()``
and ``start()`` take it down and bring it back on the same port, the way a
real Redis restarts under a running service.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import weakref
from pathlib import Path
from types import TracebackType

import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from coursekit.services.base import (
    HOST,
    ServiceError,
    ServiceProcess,
    find_program,
    free_port,
    hand_over,
    unprivileged_user,
)

__all__ = ["RedisServer", "find_programs", "redis"]

PROGRAM = "redis-server"
HOW_TO_INSTALL = (
    "Install Redis: on Debian or Ubuntu `sudo apt-get install redis-server`, "
    "on macOS `brew install redis`, with conda "
    "`conda install -c conda-forge redis`. "
    "(`pip install redis` is only the client: no maintained wheel on PyPI "
    "ships a Redis server; the old `redis-server` wheel dates from 2020 and "
    "does not install on current Pythons.)"
)
#: Where to look when PATH lacks it: a kernel started from a desktop launcher
#: often has neither the conda environment's nor Homebrew's bin on PATH.
SEARCH_FOLDERS: tuple[Path, ...] = (
    Path(sys.prefix) / "bin",
    Path("/usr/local/bin"),
    Path("/opt/homebrew/bin"),
    Path("/usr/sbin"),
)
#: A limit that catches a hang; Redis answers PING in milliseconds.
START_TIMEOUT = 30.0
SOCKET_NAME = "redis.sock"
#: The longest Unix socket path clients can connect to (sun_path holds 108
#: bytes on Linux and 104 on macOS, the final NUL included).
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107


def find_programs() -> None:
    """Raise ``ServiceMissing`` (saying how to install it) if redis-server is absent."""
    _program()


def _program() -> Path:
    return find_program(PROGRAM, also_in=SEARCH_FOLDERS, how_to_install=HOW_TO_INSTALL)


def redis(
    folder: Path | None = None,
    *,
    port: int | None = None,
    unix_socket: bool = False,
    durable: bool = False,
) -> RedisServer:
    """Start ``redis-server`` on 127.0.0.1 and return it once it answers PING.

    ``folder`` is its working folder (made if missing); without one it gets
    a temporary folder, removed when it stops. ``port`` defaults to a free
    one. With ``unix_socket`` it also listens on ``folder/redis.sock``. With
    ``durable`` every write goes to its append-only file before it answers,
    so a restart (``stop()``, ``start()``) keeps what it held: a queue.

    Raises:
        ServiceMissing: ``redis-server`` is not installed (the message says how).
        ServiceError: it exited or did not answer in time (with its output).
    """
    server = RedisServer(
        _program(),
        folder,
        port=port or free_port(),
        unix_socket=unix_socket,
        durable=durable,
    )
    server.start()
    return server


class RedisServer:
    """A running ``redis-server``; use it in a ``with`` block, or call ``stop()``."""

    def __init__(
        self,
        program: Path,
        folder: Path | None,
        *,
        port: int,
        unix_socket: bool,
        durable: bool = False,
    ) -> None:
        self.program = program
        self.port = port
        self.durable = durable
        self._temporary = folder is None
        self.folder = (
            Path(tempfile.mkdtemp(prefix="coursekit-redis-"))
            if folder is None
            else Path(folder).resolve()
        )
        self.socket_path: Path | None = (
            self.folder / SOCKET_NAME if unix_socket else None
        )
        if self.socket_path is not None:
            size = len(str(self.socket_path).encode())
            if size > MAX_SOCKET_PATH:
                raise ServiceError(
                    f"the Unix socket {self.socket_path} would be {size} bytes "
                    f"long, and clients cannot connect to one longer than "
                    f"{MAX_SOCKET_PATH}; give redis() a folder with a shorter "
                    "path (or none: a temporary folder is short)"
                )
        self._process: ServiceProcess | None = None
        # Removes the temporary folder even if stop() is never called.
        self._cleanup = (
            weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
            if self._temporary
            else None
        )

    @property
    def url(self) -> str:
        """Its URL for clients: ``redis://127.0.0.1:PORT/0``."""
        return f"redis://{HOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        """True from ``start()`` until ``stop()`` or until it exits."""
        return self._process is not None and self._process.running

    def command(self) -> list[str]:
        """The command line it runs with."""
        command = [
            str(self.program),
            "--bind",
            HOST,
            "--port",
            str(self.port),
            # A cache and counters need no snapshot; a queue needs every
            # write on disk before it is acknowledged.
            "--save",
            "",
            "--appendonly",
            "yes" if self.durable else "no",
            "--appendfsync",
            "always" if self.durable else "everysec",
            # Relative to its working folder, which the child enters before
            # it drops root: as ``nobody`` it may not be allowed to walk the
            # absolute path (a parent folder private to root).
            "--dir",
            ".",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ]
        if self.socket_path is not None:
            # 777: when we are root the server runs as another user, and the
            # socket must accept this process's clients; the folder itself
            # keeps other users out.
            command += ["--unixsocket", SOCKET_NAME, "--unixsocketperm", "777"]
        return command

    def start(self) -> None:
        """Start it (again) on its port and folder; return once it answers PING.

        Raises:
            ServiceError: it exited at once (a bad option, a port taken since)
                or did not answer within ``START_TIMEOUT`` seconds.
        """
        if self.running:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        user = unprivileged_user()
        hand_over(self.folder, user)
        self._process = ServiceProcess(
            "redis-server", self.command(), cwd=self.folder, user=user
        )
        self._process.wait_ready(self._answers, timeout=START_TIMEOUT)

    def _answers(self) -> bool:
        with self.client(timeout=0.5) as client:
            try:
                return bool(client.ping())
            except redis_py.RedisError:
                return False

    def client(self, *, timeout: float = 5.0) -> redis_py.Redis:
        """A new client of this server (close it, or use it in a ``with`` block).

        It does not retry: a test that stops the server sees the error at once.
        """
        return redis_py.Redis(
            host=HOST,
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def version(self) -> str:
        """The server's version, as its ``INFO`` reports it (``7.0.15``)."""
        with self.client() as client:
            info = client.info("server")
        return str(info["redis_version"])

    def logs(self) -> str:
        """Its recent output, oldest first."""
        return "" if self._process is None else self._process.logs()

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections open, nothing answered, as a stuck
        server behaves; ``resume()`` thaws it."""
        if self.running:
            assert self._process is not None
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on (SIGCONT)."""
        if self.running:
            assert self._process is not None
            os.kill(self._process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop it; a temporary folder is removed. Safe to call twice."""
        if self._process is not None:
            self.resume()  # a frozen server would not act on SIGTERM
            self._process.stop()
        if self._temporary:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RedisServer:
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
        return f"<RedisServer {self.url} {state}>"
