"""What the course's servers share: finding the program, a free port, a
process group with a watchdog, waiting until the server answers, and errors
that say what to do."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from coursekit.errors import CourseError
from coursekit.process import release_watchdog, start_watchdog, stop_group

#: Loopback only: the course's servers are never reachable from elsewhere.
HOST = "127.0.0.1"
#: Output lines kept for error messages and ``logs()``.
LOG_LINES = 200


class ServiceMissing(CourseError):
    """A server's program is not installed here; the message says how to get it."""


class ServiceError(CourseError):
    """A server did not start or stopped answering; the message shows its output."""


def find_program(
    name: str, *, also_in: Iterable[Path] = (), how_to_install: str
) -> Path:
    """The path of program ``name``: on PATH, else in one of ``also_in``."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for folder in also_in:
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceMissing(f"{name} is not installed here. {how_to_install}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_answers(port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout):
        return True
    return False


def unprivileged_user() -> pwd.struct_passwd | None:
    """The account to run a server as when we are root, else None.

    PostgreSQL refuses to run as root, and no server needs to: where we are
    root (CI, containers) they run as Debian's ``postgres`` user if it
    exists, else as ``nobody``.
    """
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServiceError(
        "running as root, and there is no unprivileged account (postgres or "
        "nobody) to start the server as; create one (useradd --system course)"
    )


def hand_over(folder: Path, user: pwd.struct_passwd | None) -> None:
    """Give ``folder`` (and what is in it) to ``user``, who will run a server there."""
    if user is None:
        return
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)


_running: set[ServiceProcess] = set()
_running_lock = threading.Lock()


class ServiceProcess:
    """A server program in a process group of its own, with a watchdog.

    Its output (stdout and stderr) is kept, the last ``LOG_LINES`` lines, for
    ``logs()`` and for the errors that say why it did not start.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        user: pwd.struct_passwd | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self._lines: deque[str] = deque(maxlen=LOG_LINES)
        self._lines_lock = threading.Lock()
        self._stopped = False
        environment = dict(os.environ if env is None else env)
        if user is not None:
            environment.update(HOME=str(cwd), USER=user.pw_name, LOGNAME=user.pw_name)
        self._process = subprocess.Popen(
            self.command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
        )
        self.pid = self._process.pid
        self._watchdog = start_watchdog(self.pid)
        self._reader = threading.Thread(
            target=self._read_output, name=f"coursekit-{name}-{self.pid}", daemon=True
        )
        self._reader.start()
        with _running_lock:
            _running.add(self)

    def _read_output(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        for raw in stream:
            with self._lines_lock:
                self._lines.append(raw.decode("utf-8", "replace").rstrip())
        stream.close()

    def logs(self) -> str:
        """The server's recent output, oldest first."""
        with self._lines_lock:
            return "\n".join(self._lines)

    def tail(self, lines: int = 12) -> str:
        """The last lines of its output, indented, for an error message."""
        with self._lines_lock:
            last = list(self._lines)[-lines:]
        return "\n".join(f"    {line}" for line in last) or "    (no output)"

    @property
    def running(self) -> bool:
        """True until it is stopped or exits."""
        return not self._stopped and self._process.poll() is None

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float) -> None:
        """Return once ``ready()`` is true; raise ``ServiceError`` if it exits
        first or ``timeout`` seconds pass (a limit that catches a hang)."""
        deadline = time.monotonic() + timeout
        while True:
            code = self._process.poll()
            if code is not None:
                self._reader.join(1.0)
                self.stop()
                raise ServiceError(
                    f"{self.name} exited with code {code} before it was ready. "
                    f"Its last output:\n{self.tail()}"
                )
            if ready():
                return
            if time.monotonic() > deadline:
                self.stop(timeout=1.0)
                raise ServiceError(
                    f"{self.name} was not ready within {timeout:g} s. "
                    f"Its last output:\n{self.tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop it (SIGTERM, then SIGKILL after ``timeout`` s); safe to call twice."""
        with _running_lock:
            _running.discard(self)
        if not self._stopped:
            self._stopped = True
            stop_group(self._process, timeout)
        release_watchdog(self._watchdog)
        self._reader.join(2.0)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_all() -> None:
    """Stop every server this process started (at exit)."""
    with _running_lock:
        running = list(_running)
    for service in running:
        service.stop(timeout=2.0)


atexit.register(stop_all)


def reachable_by(folder: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` can reach ``folder`` (search every folder above it)."""
    folder = folder.resolve()
    for parent in [*reversed(folder.parents), folder]:
        info = parent.stat()
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid == user.pw_gid:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001
        if not allowed:
            return False
    return True


def service_folder(
    name: str, requested: Path | None, user: pwd.struct_passwd | None
) -> tuple[Path, bool]:
    """The folder a server keeps its files in, and whether it is ours to remove.

    ``requested`` when given and the server's user can reach it; else a new
    folder in ``/tmp`` (a test run's private temporary folder is closed to
    the unprivileged user a server runs as under root).
    """
    if requested is not None and (user is None or reachable_by(requested.parent, user)):
        requested.mkdir(parents=True, exist_ok=True)
        hand_over(requested, user)
        return requested, False
    import tempfile

    base = None if user is None else "/tmp"
    folder = Path(tempfile.mkdtemp(prefix=f"coursekit-{name}-", dir=base))
    hand_over(folder, user)
    return folder, True
