"""What an app stored, read from its files: chapter 04's password check."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from coursekit.contracts import checks_for, run_check
from coursekit.contracts.stored import StoredFiles
from coursekit.serve import LiveServer

[CHECK] = [c for c in checks_for("04") if c.needs_files]


class NewUser(BaseModel):
    name: str
    email: str
    password: str


def users_app(folder: Path, *, store: Callable[[str], str] | None) -> FastAPI:
    """POST /users/ keeping users in a SQLite file (or in memory: store=None)."""
    app = FastAPI()
    db = folder / "users.db"
    memory: list[dict[str, Any]] = []

    @app.post("/users/", status_code=201)
    def create(user: NewUser) -> dict[str, Any]:
        if store is None:
            memory.append(user.model_dump())
            return {"id": len(memory), "name": user.name, "email": user.email}
        with sqlite3.connect(db) as connection:
            connection.execute("create table if not exists users (email, secret)")
            cursor = connection.execute(
                "insert into users values (?, ?)", (user.email, store(user.password))
            )
            return {"id": cursor.lastrowid, "name": user.name, "email": user.email}

    return app


@pytest.mark.parametrize(
    ("store", "status", "message"),
    [
        (lambda password: "$argon2id$" + password[::-1], "passed", ""),
        (lambda password: password, "failed", "a password is stored as it was sent"),
        (None, "failed", "the new user is in no file the app wrote"),
    ],
    ids=["hashed", "plain", "in_memory"],
)
def test_the_stored_password_is_read_from_the_app_s_files(
    live: Callable[[Any], LiveServer],
    tmp_path: Path,
    store: Callable[[str], str] | None,
    status: str,
    message: str,
) -> None:
    server = live(users_app(tmp_path, store=store))
    result = run_check(CHECK, server.url, files=StoredFiles([tmp_path]))
    assert (result.status, result.message) == (status, message)
    if status == "failed" and store is not None:
        assert result.got == "the password's text in users.db"


def test_without_the_app_s_folders_the_check_says_where_to_run_it(
    live: Callable[[Any], LiveServer], tmp_path: Path
) -> None:
    server = live(users_app(tmp_path, store=lambda password: password))
    result = run_check(CHECK, server.url)
    assert result.status == "skipped"
    assert "run it from the notebook (check()) or coursekit grade" in result.message


def test_only_files_written_since_the_run_began_are_searched(tmp_path: Path) -> None:
    old, new = tmp_path / "old.db", tmp_path / "deep" / "a" / "b" / "new.db"
    old.write_text("secret")
    stale = time.time() - 60
    os.utime(old, (stale, stale))
    new.parent.mkdir(parents=True)
    new.write_text("secret")
    (tmp_path / "deep" / "a" / "b" / "c").mkdir()
    (tmp_path / "deep" / "a" / "b" / "c" / "too_deep.db").write_text("secret")
    files = StoredFiles([tmp_path], since=time.time() - 5)
    assert files.containing("secret") == ["new.db"]
    assert files.containing("nothing") == []
