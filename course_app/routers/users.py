"""Chapter 2: create, read, update and delete users.

The same routes serve every chapter from 2 on; only the storage behind them
changes (memory in chapters 2-3, the database from chapter 4), and chapter 4
pages the list. So the router is built around the dependencies that provide
them, and this module needs nothing of a later chapter.
"""

from collections.abc import Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, status

from ..passwords import hash_password
from ..repositories import EmailTakenError, UserChanges, UserRepository
from ..schemas import Message, UserCreate, UserPublic, UserUpdate

USER_NOT_FOUND = "User not found"
EMAIL_TAKEN = "A user with this email already exists"

_not_found: dict[int | str, dict[str, Any]] = {
    404: {"model": Message, "description": USER_NOT_FOUND}
}
_conflict: dict[int | str, dict[str, Any]] = {
    409: {"model": Message, "description": EMAIL_TAKEN}
}


def _email_taken() -> HTTPException:
    return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=EMAIL_TAKEN)


def _user_not_found() -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=USER_NOT_FOUND)


class Page(Protocol):
    """Which rows of a list to return."""

    @property
    def skip(self) -> int: ...

    @property
    def limit(self) -> int: ...


def create_router(
    get_repo: Callable[..., UserRepository],
    *,
    get_page: Callable[..., Page] | None = None,
) -> APIRouter:
    """The `/users/` routes, storing users in the repository `get_repo` gives.

    With `get_page` (chapter 4's `course_app.deps.get_pagination`), `GET
    /users/` returns the page that dependency gives (`skip` and `limit`);
    without, it returns every user.
    """
    router = APIRouter(prefix="/users", tags=["users"])
    Repo = Annotated[UserRepository, Depends(get_repo)]

    # Routes are plain `def`: hashing a password and talking to the database
    # block, so they belong in the thread pool, not on the event loop.

    @router.post("/", status_code=status.HTTP_201_CREATED, responses=_conflict)
    def create_user(user_in: UserCreate, repo: Repo) -> UserPublic:
        """Register a user."""
        # Checked first to skip hashing for a taken email; the repository
        # still refuses a duplicate that slips in concurrently.
        if repo.get_by_email(user_in.email) is not None:
            raise _email_taken()
        try:
            user = repo.create(
                name=user_in.name,
                email=user_in.email,
                hashed_password=hash_password(user_in.password),
            )
        except EmailTakenError:
            raise _email_taken() from None
        return UserPublic.model_validate(user)

    if get_page is not None:
        PageDep = Annotated[Page, Depends(get_page)]

        @router.get("/")
        def list_users(repo: Repo, page: PageDep) -> list[UserPublic]:
            """A page of users, ordered by id."""
            users = repo.list_users(skip=page.skip, limit=page.limit)
            return [UserPublic.model_validate(user) for user in users]

    else:

        @router.get("/")
        def list_users(repo: Repo) -> list[UserPublic]:
            """Every user, ordered by id."""
            return [UserPublic.model_validate(user) for user in repo.list_users()]

    @router.get("/{user_id}", responses=_not_found)
    def read_user(user_id: int, repo: Repo) -> UserPublic:
        """One user."""
        user = repo.get(user_id)
        if user is None:
            raise _user_not_found()
        return UserPublic.model_validate(user)

    @router.patch("/{user_id}", responses=_not_found | _conflict)
    def update_user(user_id: int, user_in: UserUpdate, repo: Repo) -> UserPublic:
        """Change the fields sent, and only those."""
        if repo.get(user_id) is None:
            raise _user_not_found()
        changes = UserChanges()
        if user_in.name is not None:
            changes["name"] = user_in.name
        if user_in.email is not None:
            owner = repo.get_by_email(user_in.email)
            if owner is not None and owner.id != user_id:
                raise _email_taken()
            changes["email"] = user_in.email
        if user_in.password is not None:
            changes["hashed_password"] = hash_password(user_in.password)
        try:
            user = repo.update(user_id, changes)
        except EmailTakenError:
            raise _email_taken() from None
        if user is None:  # deleted by another request meanwhile
            raise _user_not_found()
        return UserPublic.model_validate(user)

    @router.delete(
        "/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_not_found
    )
    def delete_user(user_id: int, repo: Repo) -> None:
        """Delete a user."""
        if not repo.delete(user_id):
            raise _user_not_found()

    return router
