"""Where users are stored (chapter 2): the interface, and users in memory.

Routes talk to a `UserRepository` and do not know which one they have;
`create_app` picks it, and a dependency hands it to each request. Chapters
2-3 keep users in memory (`MemoryUserRepository`, here); from chapter 4 they
live in SQL (`course_app.sql_repository`).
"""

import itertools
import threading
from dataclasses import dataclass, replace
from typing import Protocol, TypedDict

from fastapi import Request


class EmailTakenError(Exception):
    """Another user already has this email."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A stored user, including the password hash: never send it as is."""

    id: int
    name: str
    email: str
    hashed_password: str


class UserChanges(TypedDict, total=False):
    name: str
    email: str
    hashed_password: str


class UserRepository(Protocol):
    """Storage of users, with emails unique."""

    def create(self, *, name: str, email: str, hashed_password: str) -> UserRecord:
        """Store a new user; raises `EmailTakenError` if the email is taken."""
        ...

    def get(self, user_id: int) -> UserRecord | None:
        """The user with this id, if any."""
        ...

    def get_by_email(self, email: str) -> UserRecord | None:
        """The user with this email, if any."""
        ...

    def list_users(self, skip: int = 0, limit: int | None = None) -> list[UserRecord]:
        """Users ordered by id, skipping `skip`, at most `limit` (None: all)."""
        ...

    def update(self, user_id: int, changes: UserChanges) -> UserRecord | None:
        """Apply `changes`; None if no such user, `EmailTakenError` if the
        new email belongs to another user."""
        ...

    def delete(self, user_id: int) -> bool:
        """Delete the user; False if there was none."""
        ...


class MemoryUserRepository:
    """Users in a dict: gone when the process ends."""

    def __init__(self) -> None:
        self._users: dict[int, UserRecord] = {}
        self._ids = itertools.count(1)
        # `def` endpoints run concurrently in a thread pool; the email check
        # and the write must happen as one step.
        self._lock = threading.Lock()

    def create(self, *, name: str, email: str, hashed_password: str) -> UserRecord:
        with self._lock:
            if self._email_owner(email) is not None:
                raise EmailTakenError(email)
            user = UserRecord(next(self._ids), name, email, hashed_password)
            self._users[user.id] = user
            return user

    def get(self, user_id: int) -> UserRecord | None:
        return self._users.get(user_id)

    def get_by_email(self, email: str) -> UserRecord | None:
        with self._lock:
            owner = self._email_owner(email)
            return None if owner is None else self._users[owner]

    def list_users(self, skip: int = 0, limit: int | None = None) -> list[UserRecord]:
        with self._lock:
            users = sorted(self._users.values(), key=lambda user: user.id)
        end = None if limit is None else skip + limit
        return users[skip:end]

    def update(self, user_id: int, changes: UserChanges) -> UserRecord | None:
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                return None
            email = changes.get("email")
            if email is not None and self._email_owner(email) not in (None, user_id):
                raise EmailTakenError(email)
            user = replace(user, **changes)
            self._users[user_id] = user
            return user

    def delete(self, user_id: int) -> bool:
        with self._lock:
            return self._users.pop(user_id, None) is not None

    def _email_owner(self, email: str) -> int | None:
        # A scan is fine for a teaching-sized store; SQL uses an index.
        for user in self._users.values():
            if user.email == email:
                return user.id
        return None


def get_memory_user_repo(request: Request) -> UserRepository:
    """The app's in-memory user storage (chapters 2-3), as a dependency."""
    repo: UserRepository = request.app.state.user_repo
    return repo
