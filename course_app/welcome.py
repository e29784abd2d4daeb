"""Chapter 8: a welcome e-mail for each new user, sent after the response.

Chapter 2's users router is left as it is: it takes its repository from a
dependency, so chapter 8 gives it one that does a little more. The
repository below stores users like the one it wraps, and calls a function
after each user it creates; chapter 8's adds the welcome e-mail to the
request's background tasks, which FastAPI runs once the response has gone.
A sign-up that fails (409, 422) creates nobody, so it mails nobody.
"""

from collections.abc import Callable

from fastapi import BackgroundTasks, Request

from .deps import UserRepoDep
from .mail import welcome_message
from .repositories import UserChanges, UserRecord, UserRepository

__all__ = ["NotifyingUserRepository", "get_welcoming_user_repo"]


class NotifyingUserRepository:
    """`repo`, calling `created(user)` after each user it creates."""

    def __init__(
        self, repo: UserRepository, created: Callable[[UserRecord], None]
    ) -> None:
        self._repo = repo
        self._created = created

    def create(self, *, name: str, email: str, hashed_password: str) -> UserRecord:
        user = self._repo.create(
            name=name, email=email, hashed_password=hashed_password
        )
        self._created(user)
        return user

    def get(self, user_id: int) -> UserRecord | None:
        return self._repo.get(user_id)

    def get_by_email(self, email: str) -> UserRecord | None:
        return self._repo.get_by_email(email)

    def list_users(self, skip: int = 0, limit: int | None = None) -> list[UserRecord]:
        return self._repo.list_users(skip=skip, limit=limit)

    def update(self, user_id: int, changes: UserChanges) -> UserRecord | None:
        return self._repo.update(user_id, changes)

    def delete(self, user_id: int) -> bool:
        return self._repo.delete(user_id)


def get_welcoming_user_repo(
    repo: UserRepoDep, background_tasks: BackgroundTasks, request: Request
) -> UserRepository:
    """The request's user repository, which welcomes each user it creates.

    `background_tasks` is the request's own: FastAPI gives every dependency
    and the route the same object, and runs its tasks after the response.
    """
    outbox = request.app.state.outbox

    def send_welcome(user: UserRecord) -> None:
        # Outbox.deliver is a plain def: FastAPI runs it in the thread pool.
        background_tasks.add_task(
            outbox.deliver, welcome_message(user.name, user.email)
        )

    return NotifyingUserRepository(repo, send_welcome)
