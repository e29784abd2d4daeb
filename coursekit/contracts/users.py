"""User helpers shared by the chapters whose checks need real users.

``create_user`` is a set-up step (``coursekit.contracts.expect.setup_step``)
on ``POST /users/``: every chapter that uses it names, in its
``SETUP_TASKS``, the task that owns that route (or ``GIVEN``).
"""

from __future__ import annotations

from typing import Any

import httpx

from coursekit.contracts.expect import (
    expect_equal,
    expect_fields,
    expect_json,
    expect_success,
    fail,
    setup_step,
    unique_email,
)

USER_FIELDS = {"id": int, "name": str, "email": str}
#: The route ``create_user`` relies on, as the chapters' SETUP_TASKS name it.
CREATE_ROUTE = "POST /users/"
SECRET_FIELDS = ("password", "hashed_password")
PASSWORD = "correct-horse-battery"
#: Page size used to search the user list; the contract's maximum.
PAGE = 100
#: Pages searched at most: a server that never runs out of pages stops here.
MAX_PAGES = 1000


def new_user(prefix: str = "learner", name: str = "Ada Lovelace") -> dict[str, str]:
    """Data for ``POST /users/`` with an e-mail no other run has used."""
    return {"name": name, "email": unique_email(prefix), "password": PASSWORD}


def create_user(
    client: httpx.Client, data: dict[str, str] | None = None
) -> dict[str, Any]:
    """Create a user for a check to work with: a set-up step on ``POST /users/``.

    Any 2xx whose JSON body holds an integer ``id`` will do: the checks of
    the create route (``create_user_201``...) judge its status and body.
    Returns the user's public fields, ``id`` from the server and ``name``
    and ``email`` as sent: what later responses are compared with.

    Raises:
        SetupFailed: no user came of it.
    """
    data = data or new_user()
    with setup_step(CREATE_ROUTE, "create a user"):
        body = expect_success(client.post("/users/", json=data), {"id": int})
    return {"id": body["id"], "name": data["name"], "email": data["email"]}


def expect_user(
    body: dict[str, Any], user: dict[str, Any], response: httpx.Response
) -> None:
    """The body is exactly the public view of ``user``."""
    expect_fields(body, USER_FIELDS, what="body", response=response)
    shown = {key: body[key] for key in USER_FIELDS}
    expect_equal(shown, user, what="user", response=response)


def user_page(response: httpx.Response) -> list[dict[str, Any]]:
    """A ``GET /users/`` page, insisting on a list of users ordered by id."""
    page = expect_json(response)
    if not isinstance(page, list):
        fail(
            "the user list is not a JSON list",
            expected="200 [UserPublic, ...]",
            response=response,
        )
    for user in page:
        expect_fields(user, USER_FIELDS, what="list item", response=response)
    ids = [user["id"] for user in page]
    if ids != sorted(ids):
        fail(
            "the user list is not ordered by id",
            expected="users ordered by id, ascending",
            got="ids " + ", ".join(map(str, ids[:12])),
            response=response,
        )
    return page


def user_ids(response: httpx.Response) -> list[int]:
    """The ids of a ``GET /users/`` page."""
    return [user["id"] for user in user_page(response)]


def find_user(client: httpx.Client, user_id: int) -> tuple[int, dict[str, Any]] | None:
    """Find a user in ``GET /users/``: its position and its entry, or None.

    From chapter 04 the list is paginated (at most 100 per page) and a live
    server keeps the users of earlier runs, so the search pages with
    ``skip``/``limit``. A chapter 02 app ignores both and returns everyone on
    every page: an unchanged page means there is nothing more to see.
    """
    previous: list[dict[str, Any]] | None = None
    skip = 0
    for _ in range(MAX_PAGES):
        response = client.get("/users/", params={"skip": skip, "limit": PAGE})
        page = user_page(response)
        if not page or page == previous:
            return None
        for index, user in enumerate(page):
            if user["id"] == user_id:
                return skip + index, user
        previous = page
        skip += len(page)
    return None
