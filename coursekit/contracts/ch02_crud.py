"""Chapter 02, CRUD: create, read, list, update and delete users.

Task ``hide_password`` is a test the learner writes: its checks are mutants
of the reference, each leaking the stored hash in one place. That no route
of the learner's leaks it is checked under the tasks that write the routes.
"""

from __future__ import annotations

from typing import Any

import httpx

from coursekit.contracts.expect import (
    expect_detail,
    expect_equal,
    expect_fields,
    expect_json,
    expect_status,
    expect_validation_error,
    fail,
    find_keys,
    short_json,
    unique_email,
)
from coursekit.contracts.learner_tests import built
from coursekit.contracts.registry import check, mutant
from coursekit.contracts.users import (
    SECRET_FIELDS,
    USER_FIELDS,
    create_user,
    expect_user,
    find_user,
    new_user,
)

DUPLICATE = "A user with this email already exists"
NOT_FOUND = "User not found"
#: An id no test server reaches (and that still fits a 32-bit column).
MISSING_ID = 999_999_999

#: The routes the checks use to set themselves up, and the task owning each:
#: when one fails, the checks relying on it point there (see the runner).
SETUP_TASKS = {
    "POST /users/": "create_user",
}


def _no_secrets(body: Any, response: httpx.Response) -> None:
    leaked = find_keys(body, SECRET_FIELDS)
    if leaked:
        fail(
            "the response exposes " + ", ".join(leaked),
            expected="no password or hashed_password field in any response",
            response=response,
        )


@check(
    task="create_user",
    points=3,
    hint="Return a `UserPublic` model (id, name, email) from the POST function "
    "and give the decorator `status_code=201`.",
)
def create_user_201(client: httpx.Client) -> None:
    data = new_user("create")
    response = client.post("/users/", json=data)
    body = expect_json(response, 201)
    expect_fields(body, USER_FIELDS, what="body", response=response)
    _no_secrets(body, response)
    expect_equal(
        {"name": body["name"], "email": body["email"]},
        {"name": data["name"], "email": data["email"]},
        what="name and email",
        response=response,
    )


@check(
    task="create_user",
    points=2,
    hint="Type the field as pydantic's `EmailStr` (it needs the email-validator "
    "package); FastAPI then rejects bad addresses with 422.",
)
def invalid_email_422(client: httpx.Client) -> None:
    data = new_user("bad") | {"email": "not-an-email"}
    response = client.post("/users/", json=data)
    expect_validation_error(response, ["body", "email"])


@check(
    task="create_user",
    points=1,
    hint="Constrain the password with `Field(min_length=8, max_length=128)`.",
)
def short_password_422(client: httpx.Client) -> None:
    data = new_user("short") | {"password": "abc123"}
    response = client.post("/users/", json=data)
    expect_validation_error(response, ["body", "password"])


@check(
    task="create_user",
    points=1,
    hint="Fields without a default are required: `name: str` (with "
    "`min_length=1`) makes a missing name a 422.",
)
def missing_field_422(client: httpx.Client) -> None:
    data = new_user("noname")
    del data["name"]
    response = client.post("/users/", json=data)
    expect_validation_error(response, ["body", "name"])


@check(
    task="create_user",
    points=2,
    hint="Look the e-mail up before inserting and raise "
    "`HTTPException(status_code=409, detail=...)` when it is taken.",
)
def duplicate_email_409(client: httpx.Client) -> None:
    data = new_user("dup")
    create_user(client, data)
    response = client.post("/users/", json=data | {"name": "Someone Else"})
    expect_detail(response, 409, DUPLICATE)


@check(
    task="read_user",
    points=2,
    hint="Declare `GET /users/{user_id}` with `user_id: int` and return the "
    "stored user as a `UserPublic`.",
)
def get_user(client: httpx.Client) -> None:
    user = create_user(client, new_user("get"))
    response = client.get(f"/users/{user['id']}")
    body = expect_json(response)
    expect_user(body, user, response)


@check(
    task="read_user",
    points=1,
    hint='Raise `HTTPException(status_code=404, detail="User not found")` when '
    "no user has that id.",
)
def get_missing_user_404(client: httpx.Client) -> None:
    expect_detail(client.get(f"/users/{MISSING_ID}"), 404, NOT_FOUND)


@check(
    task="read_user",
    points=2,
    hint="`GET /users/` returns a list of `UserPublic`, ordered by id; "
    "annotate the return type as `list[UserPublic]`.",
)
def list_users(client: httpx.Client) -> None:
    user = create_user(client, new_user("list"))
    found = find_user(client, user["id"])
    if found is None:
        fail(
            f"user {user['id']} is not in the list",
            expected=f"GET /users/ to include the new user {user['id']}",
            got="the list does not contain it",
        )
    shown = {key: found[1][key] for key in USER_FIELDS}
    if shown != user:
        fail(
            "the listed user differs from the created one",
            expected=f"list item {short_json(user)}",
            got=f"list item {short_json(shown)}",
        )


@check(
    task="update_user",
    points=3,
    hint="Apply only the fields the client sent: "
    "`update.model_dump(exclude_unset=True)`.",
)
def patch_changes_only_sent_fields(client: httpx.Client) -> None:
    user = create_user(client, new_user("patch"))
    path = f"/users/{user['id']}"
    response = client.patch(path, json={"name": "Grace Hopper"})
    body = expect_json(response)
    expect_fields(body, USER_FIELDS, what="body", response=response)
    expected = user | {"name": "Grace Hopper"}
    expect_equal(
        {k: body[k] for k in USER_FIELDS}, expected, what="user", response=response
    )
    email = unique_email("patched")
    response = client.patch(path, json={"email": email})
    body = expect_json(response)
    expect_fields(body, USER_FIELDS, what="body", response=response)
    expected = expected | {"email": email}
    expect_equal(
        {k: body[k] for k in USER_FIELDS}, expected, what="user", response=response
    )
    response = client.get(path)
    body = expect_json(response)
    expect_fields(body, USER_FIELDS, what="body", response=response)
    expect_equal(
        {k: body[k] for k in USER_FIELDS},
        expected,
        what="user after PATCH",
        response=response,
    )


@check(
    task="update_user",
    points=2,
    hint="Before saving a new e-mail, look for ANOTHER user that has it and "
    "answer 409.",
)
def patch_email_clash_409(client: httpx.Client) -> None:
    first = create_user(client, new_user("owner"))
    second = create_user(client, new_user("other"))
    response = client.patch(f"/users/{second['id']}", json={"email": first["email"]})
    expect_status(response, 409, expected="409 (the e-mail belongs to another user)")


@check(
    task="update_user",
    points=1,
    hint="Sending a user's own e-mail again is not a clash: exclude the user "
    "being updated when you look for a duplicate.",
)
def patch_own_email_ok(client: httpx.Client) -> None:
    user = create_user(client, new_user("same"))
    response = client.patch(f"/users/{user['id']}", json={"email": user["email"]})
    body = expect_json(response)
    expect_fields(body, USER_FIELDS, what="body", response=response)


@check(
    task="update_user",
    points=1,
    hint="`UserUpdate` repeats `UserCreate`'s rules with every field optional "
    "(`EmailStr | None = None`).",
)
def patch_invalid_email_422(client: httpx.Client) -> None:
    user = create_user(client, new_user("badpatch"))
    response = client.patch(f"/users/{user['id']}", json={"email": "nope"})
    expect_validation_error(response, ["body", "email"])


@check(
    task="update_user",
    points=1,
    hint='PATCH on an unknown id raises the same 404 "User not found" as GET.',
)
def patch_missing_user_404(client: httpx.Client) -> None:
    response = client.patch(f"/users/{MISSING_ID}", json={"name": "Nobody"})
    expect_detail(response, 404, NOT_FOUND)


@check(
    task="delete_user",
    points=2,
    hint="Use `status_code=204` and return nothing (`-> None`): a 204 response "
    "must have an empty body. Delete the row for real: afterwards GET does not "
    "find the user and a second DELETE answers 404.",
)
def delete_user_204(client: httpx.Client) -> None:
    user = create_user(client, new_user("delete"))
    path = f"/users/{user['id']}"
    response = client.delete(path)
    expect_status(response, 204, expected="204 with an empty body")
    if response.content:
        fail(
            "a 204 response with a body",
            expected="204 with an empty body",
            response=response,
        )
    # Gone: GET no longer shows it, and DELETE finds nothing to delete. (Not
    # "GET answers 404": that is read_user's to get right, not delete's.)
    response = client.get(path)
    if response.is_success:
        fail(
            "the user is still there after DELETE",
            expected="GET of the deleted user not to find it",
            response=response,
        )
    response = client.delete(path)
    expect_status(response, 404, expected="404: the user was deleted already")


@check(
    task="delete_user",
    points=1,
    hint='DELETE on an unknown id raises the same 404 "User not found" as GET.',
)
def delete_missing_user_404(client: httpx.Client) -> None:
    expect_detail(client.delete(f"/users/{MISSING_ID}"), 404, NOT_FOUND)


@check(
    task="read_user",
    points=1,
    hint="Return `UserPublic` from both read routes: the stored record holds "
    "the password's hash, which no response may show.",
)
def read_hides_password(client: httpx.Client) -> None:
    user = create_user(client, new_user("secret"))
    response = client.get(f"/users/{user['id']}")
    _no_secrets(expect_json(response), response)
    response = client.get("/users/", params={"limit": 100})
    _no_secrets(expect_json(response), response)


@check(
    task="update_user",
    points=1,
    hint="Return `UserPublic` from PATCH too, not the updated record.",
)
def update_hides_password(client: httpx.Client) -> None:
    user = create_user(client, new_user("secretpatch"))
    response = client.patch(f"/users/{user['id']}", json={"name": "Renamed"})
    _no_secrets(expect_json(response), response)


# -- the learner's test: the reference with one leak each ---------------------


@mutant(
    task="hide_password",
    test="test_no_secrets",
    bug="`POST /users/` answers with the stored record, its `hashed_password` too",
    hint="Look for secret keys in the body of the `POST` that created the user.",
)
def create_shows_hash() -> Any:
    return built("create_shows_hash")


@mutant(
    task="hide_password",
    test="test_no_secrets",
    bug="`GET /users/{user_id}` shows the user's `hashed_password`",
    hint="Read the new user back with `GET /users/{id}` and look in that body.",
)
def read_shows_hash() -> Any:
    return built("read_shows_hash")


@mutant(
    task="hide_password",
    test="test_no_secrets",
    bug="`PATCH /users/{user_id}` answers with the changed record, hash and all",
    hint="Change the password with `PATCH` and look in the answer's body.",
)
def update_shows_hash() -> Any:
    return built("update_shows_hash")


@mutant(
    task="hide_password",
    test="test_no_secrets",
    bug="every user in `GET /users/` comes with its `hashed_password`",
    hint="Search the whole list (a list of dicts) for secret keys, at any depth.",
)
def list_shows_hash() -> Any:
    return built("list_shows_hash")


@mutant(
    task="hide_password",
    test="test_no_secrets",
    bug="the OpenAPI document says `UserPublic` has a `hashed_password`",
    hint='Read `schema["components"]["schemas"]["UserPublic"]["properties"]` '
    "and look for secret keys there too.",
)
def schema_documents_hash() -> Any:
    return built("schema_documents_hash")
