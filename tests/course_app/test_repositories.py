"""The two user stores keep the same contract; SQL specifics at the end."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from course_app.config import Settings
from course_app.db import create_db_engine, create_session_factory, create_tables
from course_app.repositories import (
    EmailTakenError,
    MemoryUserRepository,
    UserRepository,
)
from course_app.sql_repository import MAX_ID, SqlUserRepository

HASH = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    create_tables(engine)
    with create_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture(params=["memory", "sql"])
def repo(request: pytest.FixtureRequest) -> UserRepository:
    if request.param == "memory":
        return MemoryUserRepository()
    return SqlUserRepository(request.getfixturevalue("session"))


def _add(repo: UserRepository, email: str, name: str = "N") -> int:
    return repo.create(name=name, email=email, hashed_password=HASH).id


def test_create_and_get(repo: UserRepository) -> None:
    user = repo.create(name="Ada", email="ada@example.com", hashed_password=HASH)
    assert user.id >= 1
    assert (user.name, user.email, user.hashed_password) == (
        "Ada",
        "ada@example.com",
        HASH,
    )
    assert repo.get(user.id) == user
    assert repo.get_by_email("ada@example.com") == user
    assert repo.get(user.id + 1) is None
    assert repo.get_by_email("bob@example.com") is None


def test_duplicate_email(repo: UserRepository) -> None:
    _add(repo, "ada@example.com")
    with pytest.raises(EmailTakenError):
        _add(repo, "ada@example.com")
    assert len(repo.list_users()) == 1


def test_list_is_ordered_and_paginated(repo: UserRepository) -> None:
    ids = [_add(repo, f"u{n}@example.com") for n in range(5)]
    assert [user.id for user in repo.list_users()] == ids
    assert [user.id for user in repo.list_users(skip=1, limit=2)] == ids[1:3]
    assert [user.id for user in repo.list_users(skip=4, limit=10)] == ids[4:]
    assert repo.list_users(skip=MAX_ID, limit=10) == []


def test_update(repo: UserRepository) -> None:
    user_id = _add(repo, "ada@example.com", name="Ada")
    updated = repo.update(user_id, {"name": "Ada L."})
    assert updated is not None
    assert (updated.name, updated.email) == ("Ada L.", "ada@example.com")
    updated = repo.update(user_id, {"email": "ada@example.org", "hashed_password": "h"})
    assert updated is not None
    assert repo.get(user_id) == updated
    assert repo.get_by_email("ada@example.com") is None
    assert repo.update(user_id + 1, {"name": "x"}) is None


def test_update_to_a_taken_email(repo: UserRepository) -> None:
    ada = _add(repo, "ada@example.com", name="Ada")
    _add(repo, "bob@example.com")
    with pytest.raises(EmailTakenError):
        repo.update(ada, {"email": "bob@example.com", "name": "Changed"})
    user = repo.get(ada)
    assert user is not None
    assert (user.name, user.email) == ("Ada", "ada@example.com")
    # Keeping one's own email is not a conflict.
    assert repo.update(ada, {"email": "ada@example.com"}) is not None


def test_delete(repo: UserRepository) -> None:
    user_id = _add(repo, "ada@example.com")
    assert repo.delete(user_id)
    assert repo.get(user_id) is None
    assert not repo.delete(user_id)
    _add(repo, "ada@example.com")  # the email is free again


def test_ids_are_not_reused(repo: UserRepository) -> None:
    # A token names a user by id: a new user must never inherit the id of a
    # deleted one.
    first = _add(repo, "a@example.com")
    last = _add(repo, "b@example.com")
    repo.delete(last)
    assert _add(repo, "c@example.com") > last > first


@pytest.mark.parametrize("user_id", [MAX_ID + 1, -MAX_ID - 2, 10**30, -(10**30)])
def test_ids_beyond_64_bits_do_not_exist(repo: UserRepository, user_id: int) -> None:
    assert repo.get(user_id) is None
    assert repo.update(user_id, {"name": "x"}) is None
    assert not repo.delete(user_id)


def test_sql_integrity_error_becomes_email_taken(session: Session) -> None:
    repo = SqlUserRepository(session)
    _add(repo, "ada@example.com")
    with pytest.raises(EmailTakenError) as caught:
        _add(repo, "ada@example.com")
    assert "UNIQUE" in str(caught.value.__cause__)
    # The session was rolled back and is usable again.
    _add(repo, "bob@example.com")
    assert [user.email for user in repo.list_users()] == [
        "ada@example.com",
        "bob@example.com",
    ]


def test_sql_writes_are_committed(session: Session, tmp_path: Path) -> None:
    user_id = _add(SqlUserRepository(session), "ada@example.com")
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    with create_session_factory(engine)() as other:
        assert SqlUserRepository(other).get(user_id) is not None
    engine.dispose()
