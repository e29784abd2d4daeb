"""Chapter 04, dependency injection: shared pagination, a database session."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from coursekit.contracts.expect import (
    expect_equal,
    expect_fields,
    expect_json,
    expect_validation_error,
    fail,
)
from coursekit.contracts.registry import check
from coursekit.contracts.stored import StoredFiles
from coursekit.contracts.users import create_user, find_user, new_user, user_ids

PAGE_FIELDS = {"skip": int, "limit": int, "total": int, "items": list}

#: The routes the checks use to set themselves up, and the task owning each
#: (see the runner): the users to page through come from POST /users/.
SETUP_TASKS = {"POST /users/": "users_pagination"}


def _items(ids: list[int]) -> list[dict[str, Any]]:
    return [{"id": n, "name": f"Item {n}"} for n in ids]


def _page(client: httpx.Client, **params: Any) -> tuple[dict[str, Any], httpx.Response]:
    response = client.get("/items/", params=params)
    body = expect_json(response)
    expect_fields(body, PAGE_FIELDS, what="body", response=response)
    return body, response


@check(
    task="items_pagination",
    points=2,
    hint="Write `Pagination` once (skip: int = 0, limit: int = 10) and take it "
    "with `Annotated[Pagination, Depends()]`; return the page and the total.",
)
def items_default_page(client: httpx.Client) -> None:
    body, response = _page(client)
    expected = {
        "q": None,
        "skip": 0,
        "limit": 10,
        "total": 100,
        "items": _items(list(range(1, 11))),
    }
    expect_equal(body, expected, what="body", response=response)


@check(
    task="items_pagination",
    points=2,
    hint="Slice the matches with `[skip : skip + limit]`; `total` counts all "
    "matches, not just the page.",
)
def items_skip_limit(client: httpx.Client) -> None:
    cases = (({"skip": 20, "limit": 3}, [21, 22, 23]), ({"skip": 95}, range(96, 101)))
    for params, ids in cases:
        body, response = _page(client, **params)
        got = {k: body.get(k) for k in ("skip", "limit", "total", "items")}
        expected = {
            "skip": params["skip"],
            "limit": params.get("limit", 10),
            "total": 100,
            "items": _items(list(ids)),
        }
        expect_equal(got, expected, what="page", response=response)


def _bounds(client: httpx.Client, url: str) -> None:
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"skip": -1}, "skip"),
    ):
        response = client.get(url, params=params)
        expect_validation_error(response, ["query", field])
    expect_json(client.get(url, params={"skip": 0, "limit": 100}))


@check(
    task="items_pagination",
    points=2,
    hint="Constrain the dependency's parameters: "
    "`skip: Annotated[int, Query(ge=0)] = 0`, "
    "`limit: Annotated[int, Query(ge=1, le=100)] = 10`.",
)
def items_bounds_422(client: httpx.Client) -> None:
    _bounds(client, "/items/")


@check(
    task="items_search",
    points=2,
    hint="Compare lower-cased strings: `q.lower() in item.name.lower()`, then "
    "count the matches before slicing.",
)
def items_search(client: httpx.Client) -> None:
    body, response = _page(client, q="ITEM 9")
    # "Item 9" and "Item 90".."Item 99": 11 matches, the first 10 on the page.
    expected = {"q": "ITEM 9", "total": 11, "items": _items([9, *range(90, 99)])}
    got = {k: body.get(k) for k in expected}
    expect_equal(got, expected, what="page", response=response)
    body, response = _page(client, q="item 1", skip=10, limit=5)
    expected = {"q": "item 1", "total": 12, "items": _items([19, 100])}
    got = {k: body.get(k) for k in expected}
    expect_equal(got, expected, what="page", response=response)


@check(
    task="users_pagination",
    points=3,
    hint="Reuse the same `Pagination` dependency in `GET /users/` and apply it "
    "in the query: `ORDER BY id`, then `OFFSET skip LIMIT limit`.",
)
def users_paginated(client: httpx.Client) -> None:
    users = [create_user(client, new_user(f"page{i}")) for i in range(3)]
    ids = [user["id"] for user in users]
    # Earlier runs leave users behind: find where the new ones start.
    found = find_user(client, ids[0])
    if found is None:
        fail(
            f"user {ids[0]} is not in GET /users/",
            expected="the new user in the list",
            got="not found while paging with skip and limit=100",
        )
    start = found[0]
    for offset, user_id in enumerate(ids):
        response = client.get("/users/", params={"skip": start + offset, "limit": 1})
        expect_equal(user_ids(response), [user_id], what="ids", response=response)
    response = client.get("/users/", params={"skip": start, "limit": 2})
    expect_equal(user_ids(response), ids[:2], what="ids", response=response)
    response = client.get("/users/")
    count = len(user_ids(response))
    if not 1 <= count <= 10:
        fail(
            "the default page does not hold 1 to 10 users",
            expected="at most 10 users without skip or limit",
            got=f"{count} users",
            response=response,
        )


@check(
    task="users_pagination",
    points=1,
    hint="`GET /users/` must take the same bounded `Pagination` dependency as "
    "`GET /items/`.",
)
def users_bounds_422(client: httpx.Client) -> None:
    _bounds(client, "/users/")


@check(
    task="users_pagination",
    points=1,
    hint="Store `hash_password(user_in.password)` in `hashed_password`, never "
    "the password itself: whoever reads the database would read every password.",
)
def password_stored_hashed(client: httpx.Client, files: StoredFiles) -> None:
    # A password of its own, so that only this user's row can hold it.
    password = f"plain-{uuid.uuid4().hex}"
    data = new_user("stored") | {"password": password}
    create_user(client, data)
    if not files.containing(data["email"]):
        fail(
            "the new user is in no file the app wrote",
            expected="users stored in the database file the exercise sets up",
            got="no file under the app's folders holds the new user's e-mail",
        )
    found = files.containing(password)
    if found:
        fail(
            "a password is stored as it was sent",
            expected="only the password's (argon2) hash in the database",
            got=f"the password's text in {', '.join(found)}",
        )


@check(
    task="health",
    points=2,
    hint="Take the session as a dependency, run `SELECT 1` and return "
    '{"status": "ok", "database": "ok"}.',
)
def health(client: httpx.Client) -> None:
    response = client.get("/health")
    expected = {"status": "ok", "database": "ok"}
    expect_equal(expect_json(response), expected, what="body", response=response)
