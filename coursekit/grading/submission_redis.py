"""A Redis of each graded kernel's own, for the chapters whose checks look into one.

Chapter 07's app keeps its cache and login counts in Redis, and its checks
empty and pause that Redis (``ch07_production``). Each kernel that grades
such a chapter gets a ``redis-server`` started for it alone, before the
kernel (its ``REDIS_URL`` is in the kernel's environment from the start),
stopped when the kernel is shut down, whichever way that happens:

- it listens on a Unix socket only (``port 0``: no TCP at all), in a folder
  beside the kernel's box, ``<kernel folder>/redis/``. The kernel's sandbox
  shows that folder read-only: its app connects to the socket, but cannot
  delete it or put a server of its own in its place. No other kernel's
  sandbox shows it, and there is no network in any of them;
- it runs in a sandbox of its own (the same bubblewrap confinement as the
  kernel's, with only its folder writable and no network), as the kernel's
  own user, under the kernel's cgroup and rlimits, and at most
  ``MAX_MEMORY`` of data;
- it has two users, with random passwords given on its standard input (in
  no file and no command line): the app's (``default``, the password in the
  kernel's ``REDIS_URL``), which may run every command but the dangerous and
  administrative ones (``CONFIG``, ``SAVE``, ``MODULE``, ``REPLICAOF``,
  ``SHUTDOWN``, ``CLIENT PAUSE``...: nothing that writes files, reaches the
  network or stops the server), and the grader's, whose URL only the checks
  get, to empty and pause it.

So a submission reaches no Redis but its own, and its own cannot write a
file or open a connection for it outside its sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import redis as redis_py

from coursekit.grading import limits as limits_module
from coursekit.services.base import ServiceMissing
from coursekit.services.redis import HOW_TO_INSTALL, MAX_SOCKET_PATH, _program

if TYPE_CHECKING:
    from coursekit.grading.isolation import Confinement

__all__ = ["RedisUnavailable", "SubmissionRedis", "find_redis_server"]

#: Its folder, beside the kernel's box.
FOLDER = "redis"
SOCKET_NAME = "redis.sock"
#: Data it may hold; writes beyond fail (the course stores a few keys).
MAX_MEMORY = "64mb"
#: Seconds it may take to answer PING once started.
START_TIMEOUT = 30.0
#: The user the checks connect as.
GRADER_USER = "grader"
#: The app's rights: everything but the categories that hold CONFIG, SAVE,
#: BGREWRITEAOF, DEBUG, MODULE, REPLICAOF, MIGRATE, SHUTDOWN, MONITOR, ACL
#: SETUSER and CLIENT KILL/PAUSE; with back the harmless ones of those
#: categories a learner may well use on their own data.
APP_RULES = "~* &* +@all -@admin -@dangerous +flushdb +flushall +keys +info +sort"


class RedisUnavailable(RuntimeError):
    """A submission's Redis could not be started; the message says why."""


def find_redis_server() -> Path:
    """The ``redis-server`` program.

    Raises:
        RedisUnavailable: it is not installed (the message says how to get it).
    """
    try:
        return _program()
    except ServiceMissing:
        raise RedisUnavailable(
            "chapter 07's checks need a Redis for each submission, and "
            f"redis-server is not installed here. {HOW_TO_INSTALL}"
        ) from None


def _config(socket: Path, folder: Path, app_password: str, grader_password: str) -> str:
    lines = [
        "port 0",
        f'unixsocket "{socket}"',
        "unixsocketperm 700",
        f'dir "{folder}"',
        'save ""',
        "appendonly no",
        "daemonize no",
        'logfile ""',
        f"maxmemory {MAX_MEMORY}",
        "maxmemory-policy noeviction",
        "maxclients 256",
        "enable-protected-configs no",
        "enable-debug-command no",
        "enable-module-command no",
        f"user default on >{app_password} {APP_RULES}",
        f"user {GRADER_USER} on >{grader_password} ~* &* +@all",
    ]
    return "\n".join(lines) + "\n"


class SubmissionRedis:
    """One kernel's Redis: ``app_url`` for its app, ``grader_url`` for the checks."""

    def __init__(self, confinement: Confinement) -> None:
        self.confinement = confinement
        self.folder = confinement.folder / FOLDER
        self.socket = self.folder / SOCKET_NAME
        self.log_file = confinement.folder / "redis.log"
        self._app_password = secrets.token_hex(16)
        self._grader_password = secrets.token_hex(16)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def app_url(self) -> str:
        """The app's URL (the kernel's ``REDIS_URL``)."""
        return f"unix://:{self._app_password}@{quote(str(self.socket))}?db=0"

    @property
    def grader_url(self) -> str:
        """The checks' URL: the grader's user, which may empty and pause it."""
        user = f"{GRADER_USER}:{self._grader_password}"
        return f"unix://{user}@{quote(str(self.socket))}?db=0"

    def launch(self) -> None:
        """Start the server (call from the thread that will outlive it).

        Under bubblewrap ``--die-with-parent`` ends it with the thread that
        started it, so this is not run in a passing worker thread.

        Raises:
            RedisUnavailable: it is not installed, or its socket's path is too long.
        """
        program = find_redis_server()
        if len(str(self.socket).encode()) > MAX_SOCKET_PATH:
            raise RedisUnavailable(
                f"the submission's Redis socket {self.socket} would be longer "
                f"than {MAX_SOCKET_PATH} bytes: set COURSEKIT_GRADE_TMP to a "
                "shorter folder"
            )
        confinement = self.confinement
        # bubblewrap, root without its capabilities, enters it before it
        # drops to the kernel's user: traversable, and listable by that user.
        self.folder.mkdir()
        self.folder.chmod(0o711)
        if confinement.uid is not None:
            os.chown(self.folder, confinement.uid, confinement.gid)
        command = [str(program), "-"]  # "-": the configuration on stdin
        box = confinement.isolation.box
        if box is not None:
            command = box.command(
                command, folder=self.folder, cwd=self.folder, uid=confinement.uid
            )
        drop = box is None
        preexec = limits_module.Preexec(
            rlimit_values=confinement.rlimits,
            cgroup=confinement.cgroup,
            uid=confinement.uid if drop else None,
            gid=confinement.gid if drop else None,
        )
        env = confinement.env()
        try:
            with self.log_file.open("wb") as log:
                self._process = subprocess.Popen(
                    command,
                    cwd=self.folder,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=preexec,
                )
        finally:
            preexec.close()
        assert self._process.stdin is not None
        config = _config(
            self.socket, self.folder, self._app_password, self._grader_password
        )
        with contextlib.suppress(OSError):  # an early exit shows in ready()
            self._process.stdin.write(config.encode())
        with contextlib.suppress(OSError):
            self._process.stdin.close()

    def _answers(self) -> bool:
        client = redis_py.Redis.from_url(
            self.grader_url, socket_timeout=1, socket_connect_timeout=1
        )
        try:
            return bool(client.ping())
        except redis_py.RedisError:
            return False
        finally:
            client.close()

    async def ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until it answers PING.

        Raises:
            RedisUnavailable: it exited, or did not answer in time (with its log).
        """
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RedisUnavailable(
                    f"the submission's redis-server exited at once "
                    f"(status {self._process.returncode}): {self._log_tail()}"
                )
            if self.socket.exists() and await asyncio.to_thread(self._answers):
                return
            if time.monotonic() >= deadline:
                raise RedisUnavailable(
                    f"the submission's redis-server did not answer within "
                    f"{timeout:g} s: {self._log_tail()}"
                )
            await asyncio.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "no output"
        lines = [line for line in text.splitlines() if line.strip()]
        return " / ".join(lines[-3:]) or "no output"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop it (at once: it holds nothing to save). Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
