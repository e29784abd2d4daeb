import threading
from pathlib import Path

import pytest
from sqlalchemy import event, inspect, make_url, text
from sqlalchemy.pool import QueuePool, StaticPool

from course_app.config import Settings
from course_app.db import (
    Base,
    create_db_engine,
    create_session_factory,
    create_tables,
    engine_options,
    is_memory_sqlite,
)


@pytest.mark.parametrize(
    ("url", "memory"),
    [
        ("sqlite://", True),
        ("sqlite:///:memory:", True),
        ("sqlite:///file:shared?mode=memory&uri=true", True),
        ("sqlite:///./course_app.db", False),
        ("sqlite:////tmp/app.db", False),
        ("postgresql://app@db/app", False),
    ],
)
def test_is_memory_sqlite(url: str, memory: bool) -> None:
    assert is_memory_sqlite(make_url(url)) is memory


def test_file_sqlite_gets_the_pool_settings(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'pool.db'}",
        db_pool_size=3,
        db_max_overflow=2,
        db_pool_timeout=4,
        db_pool_recycle=60,
    )
    engine = create_db_engine(settings)
    try:
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 3
        assert pool._max_overflow == 2
        assert pool._timeout == 4
        assert pool._recycle == 60
        assert pool._pre_ping
    finally:
        engine.dispose()


def test_memory_sqlite_is_one_database_for_all_threads() -> None:
    engine = create_db_engine(Settings(database_url="sqlite://"))
    try:
        assert isinstance(engine.pool, StaticPool)
        assert engine.pool._pre_ping
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
        seen: list[int] = []

        def read() -> None:
            with engine.connect() as connection:
                seen.append(connection.execute(text("SELECT x FROM t")).scalar_one())

        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
        assert seen == [1]
    finally:
        engine.dispose()


def test_file_sqlite_can_be_used_from_another_thread(tmp_path: Path) -> None:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path / 't.db'}"))
    sessions = create_session_factory(engine)
    errors: list[BaseException] = []
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))

            # The same pooled connection, used by a thread that did not open it.
            def use() -> None:
                try:
                    session.execute(text("SELECT 1"))
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=use)
            thread.start()
            thread.join()
        assert errors == []
    finally:
        engine.dispose()


def test_create_tables(tmp_path: Path) -> None:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path / 't.db'}"))
    try:
        create_tables(engine)
        create_tables(engine)  # idempotent
        inspector = inspect(engine)
        # Chapter 10's table too once this process has built chapter 10: its
        # model registers with the one metadata when first imported.
        assert inspector.get_table_names() in (["users"], ["avatars", "users"])
        columns = {column["name"] for column in inspector.get_columns("users")}
        assert columns == {"id", "name", "email", "hashed_password"}
        indexes = inspector.get_indexes("users")
        assert [(i["column_names"], bool(i["unique"])) for i in indexes] == [
            (["email"], True)
        ]
    finally:
        engine.dispose()


def test_server_databases_get_the_pool_settings_and_no_sqlite_options() -> None:
    settings = Settings(
        db_pool_size=8, db_max_overflow=4, db_pool_timeout=3, db_pool_recycle=600
    )
    url = make_url("postgresql+psycopg://app:secret@db/app")
    assert engine_options(url, settings) == {
        "pool_pre_ping": True,
        "pool_size": 8,
        "max_overflow": 4,
        "pool_timeout": 3,
        "pool_recycle": 600,
    }


def test_memory_sqlite_gets_no_pool_settings() -> None:
    # StaticPool has no size or overflow; passing them would be an error.
    options = engine_options(make_url("sqlite://"), Settings())
    assert options == {
        "pool_pre_ping": True,
        "connect_args": {"check_same_thread": False},
        "poolclass": StaticPool,
    }


def test_create_tables_when_another_worker_creates_them_first(tmp_path: Path) -> None:
    """Two workers starting at once: both find the tables missing, one wins.

    The other worker's CREATE is run at the worst moment, after this
    process has checked which tables exist and before it creates them.
    """
    url = f"sqlite:///{tmp_path / 't.db'}"
    engine = create_db_engine(Settings(database_url=url))
    other_worker = create_db_engine(Settings(database_url=url))
    raced: list[bool] = []

    def other_worker_wins(*_: object, **__: object) -> None:
        if not raced:
            raced.append(True)
            Base.metadata.create_all(other_worker)

    event.listen(Base.metadata, "before_create", other_worker_wins)
    try:
        create_tables(engine)
        assert raced == [True]
        assert "users" in inspect(engine).get_table_names()
    finally:
        event.remove(Base.metadata, "before_create", other_worker_wins)
        engine.dispose()
        other_worker.dispose()
