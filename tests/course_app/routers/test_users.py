"""The users routes, over both stores: memory (chapters 2-3) and SQL (4+)."""

import threading
from collections.abc import Callable
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from course_app import deps
from course_app.repositories import UserRecord, UserRepository
from course_app.sql_repository import MAX_ID, SqlUserRepository

Signup = Callable[..., dict[str, Any]]
HASH = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"


@pytest.fixture(params=[2, 4, 6], ids=["memory", "sql", "full"])
def client(
    request: pytest.FixtureRequest, make_client: Callable[..., TestClient]
) -> TestClient:
    return make_client(request.param)


@pytest.fixture
def sql_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(4)


def _app(client: TestClient) -> FastAPI:
    return cast(FastAPI, client.app)


def stored(client: TestClient, user_id: int) -> UserRecord | None:
    """The user as stored, password hash included."""
    app = _app(client)
    if app.state.engine is None:
        repo: UserRepository = app.state.user_repo
        return repo.get(user_id)
    with app.state.session_factory() as session:
        return SqlUserRepository(session).get(user_id)


def seed(client: TestClient, count: int) -> list[int]:
    """Store users directly, skipping the cost of hashing their passwords."""
    app = _app(client)
    emails = [f"seed{n:02d}@example.com" for n in range(count)]
    if app.state.engine is None:
        repo: UserRepository = app.state.user_repo
        return [repo.create(name="S", email=e, hashed_password=HASH).id for e in emails]
    with app.state.session_factory() as session:
        sql = SqlUserRepository(session)
        return [sql.create(name="S", email=e, hashed_password=HASH).id for e in emails]


def test_create(client: TestClient) -> None:
    response = client.post(
        "/users/",
        json={"name": "Ada", "email": "Ada@Example.COM", "password": "correct horse"},
    )
    assert response.status_code == 201
    user = response.json()
    # The domain of an email is case-insensitive, so it is stored lower-cased.
    assert user == {"id": user["id"], "name": "Ada", "email": "Ada@example.com"}
    record = stored(client, user["id"])
    assert record is not None
    assert record.hashed_password.startswith("$argon2id$")
    assert "correct horse" not in record.hashed_password


def test_duplicate_email(client: TestClient, signup: Signup) -> None:
    signup(client, email="ada@example.com")
    response = client.post(
        "/users/",
        json={"name": "Other", "email": "ada@EXAMPLE.com", "password": "12345678"},
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "A user with this email already exists"}


@pytest.mark.parametrize(
    ("change", "loc", "kind"),
    [
        ({"email": "not-an-email"}, "email", "value_error"),
        ({"email": "a\x00@example.com"}, "email", "value_error"),
        ({"password": "1234567"}, "password", "string_too_short"),
        ({"password": "x" * 129}, "password", "string_too_long"),
        ({"name": ""}, "name", "string_too_short"),
        ({"name": "x" * 101}, "name", "string_too_long"),
        ({"name": "nul\x00byte"}, "name", "string_pattern_mismatch"),
        ({"name": 5}, "name", "string_type"),
    ],
)
def test_create_validation(
    client: TestClient, change: dict[str, Any], loc: str, kind: str
) -> None:
    body = {"name": "Ada", "email": "ada@example.com", "password": "12345678"}
    response = client.post("/users/", json=body | change)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", loc], kind)


@pytest.mark.parametrize("missing", ["name", "email", "password"])
def test_create_missing_field(client: TestClient, missing: str) -> None:
    body = {"name": "Ada", "email": "ada@example.com", "password": "12345678"}
    del body[missing]
    response = client.post("/users/", json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", missing], "missing")


@pytest.mark.parametrize(
    ("name", "password"),
    [("x", "p" * 8), ("y" * 100, "q" * 128), ("Zoë 😀", "ü" * 8)],
)
def test_create_at_the_length_limits(
    client: TestClient, name: str, password: str
) -> None:
    body = {"name": name, "email": "ada@example.com", "password": password}
    response = client.post("/users/", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


def test_read_and_list(client: TestClient, signup: Signup) -> None:
    ada = signup(client, email="ada@example.com", name="Ada")
    bob = signup(client, email="bob@example.com", name="Bob")
    assert client.get(f"/users/{ada['id']}").json() == ada
    assert client.get("/users/").json() == [ada, bob]
    # Collection routes end in a slash; without it, a redirect leads there.
    assert client.get("/users").json() == [ada, bob]


@pytest.mark.parametrize(
    "user_id", ["0", "-1", "999", str(MAX_ID), str(MAX_ID + 1), "9" * 100]
)
def test_missing_user(client: TestClient, user_id: str) -> None:
    not_found = {"detail": "User not found"}
    get = client.get(f"/users/{user_id}")
    assert (get.status_code, get.json()) == (404, not_found)
    patch = client.patch(f"/users/{user_id}", json={"name": "x"})
    assert (patch.status_code, patch.json()) == (404, not_found)
    delete = client.delete(f"/users/{user_id}")
    assert (delete.status_code, delete.json()) == (404, not_found)


@pytest.mark.parametrize("user_id", ["abc", "1.5", "1e3"])
def test_user_id_must_be_an_integer(client: TestClient, user_id: str) -> None:
    response = client.get(f"/users/{user_id}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]


def test_patch_changes_only_the_fields_sent(client: TestClient, signup: Signup) -> None:
    ada = signup(client, email="ada@example.com", name="Ada")
    before = stored(client, ada["id"])
    response = client.patch(f"/users/{ada['id']}", json={"name": "Ada L."})
    assert response.status_code == 200
    assert response.json() == {**ada, "name": "Ada L."}
    assert stored(client, ada["id"]) == UserRecord(
        ada["id"],
        "Ada L.",
        "ada@example.com",
        before.hashed_password,  # type: ignore[union-attr]
    )

    response = client.patch(f"/users/{ada['id']}", json={"email": "ada@example.org"})
    assert response.json() == {**ada, "name": "Ada L.", "email": "ada@example.org"}

    # null is the same as leaving the field out; {} changes nothing.
    for body in ({"name": None, "email": None, "password": None}, {}):
        response = client.patch(f"/users/{ada['id']}", json=body)
        assert response.status_code == 200
        assert response.json()["name"] == "Ada L."


def test_patch_password_is_hashed(client: TestClient, signup: Signup) -> None:
    ada = signup(client)
    before = stored(client, ada["id"])
    response = client.patch(f"/users/{ada['id']}", json={"password": "new password"})
    assert response.status_code == 200
    assert response.json() == ada
    after = stored(client, ada["id"])
    assert before is not None and after is not None
    assert after.hashed_password != before.hashed_password
    assert after.hashed_password.startswith("$argon2id$")


def test_patch_to_another_users_email(client: TestClient, signup: Signup) -> None:
    ada = signup(client, email="ada@example.com")
    signup(client, email="bob@example.com")
    response = client.patch(f"/users/{ada['id']}", json={"email": "bob@example.com"})
    assert response.status_code == 409
    assert response.json() == {"detail": "A user with this email already exists"}
    own = client.patch(f"/users/{ada['id']}", json={"email": "ada@example.com"})
    assert own.status_code == 200


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"email": "nope"}, "email"),
        ({"password": "short"}, "password"),
        ({"name": ""}, "name"),
    ],
)
def test_patch_validation(
    client: TestClient, signup: Signup, body: dict[str, str], loc: str
) -> None:
    ada = signup(client)
    response = client.patch(f"/users/{ada['id']}", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", loc]


def test_delete(client: TestClient, signup: Signup) -> None:
    ada = signup(client, email="ada@example.com")
    response = client.delete(f"/users/{ada['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/users/{ada['id']}").status_code == 404
    assert client.delete(f"/users/{ada['id']}").status_code == 404
    signup(client, email="ada@example.com")  # the email is free again


def test_no_response_shows_a_password(client: TestClient) -> None:
    body = {"name": "Ada", "email": "ada@example.com", "password": "secret pw 1"}
    responses = [client.post("/users/", json=body)]
    user_id = responses[0].json()["id"]
    responses += [
        client.post("/users/", json=body),
        client.get("/users/"),
        client.get(f"/users/{user_id}"),
        client.patch(f"/users/{user_id}", json={"password": "secret pw 2"}),
    ]
    for response in responses:
        assert "password" not in response.text
        assert "argon2" not in response.text
        assert "secret pw" not in response.text


@pytest.mark.parametrize("upto", [2, 3])
def test_memory_list_returns_every_user(
    make_client: Callable[..., TestClient], upto: int
) -> None:
    client = make_client(upto)
    ids = seed(client, 15)
    # No pagination before chapter 4: skip and limit mean nothing yet.
    for url in ("/users/", "/users/?skip=5&limit=1"):
        assert [user["id"] for user in client.get(url).json()] == ids


def test_sql_list_is_paginated(sql_client: TestClient) -> None:
    ids = seed(sql_client, 15)

    def listed(query: str) -> list[int]:
        return [user["id"] for user in sql_client.get(f"/users/?{query}").json()]

    assert listed("") == ids[:10]
    assert listed("skip=10") == ids[10:]
    assert listed("skip=3&limit=2") == ids[3:5]
    assert listed("limit=100") == ids
    assert listed("skip=15") == []


def test_sql_users_persist_across_app_instances(
    make_client: Callable[..., TestClient], signup: Signup
) -> None:
    ada = signup(make_client(4), email="ada@example.com")
    assert make_client(4).get(f"/users/{ada['id']}").json() == ada
    assert make_client(6).get("/users/").json() == [ada]


def test_memory_users_live_in_one_app_instance(
    make_client: Callable[..., TestClient], signup: Signup
) -> None:
    signup(make_client(2))
    assert make_client(2).get("/users/").json() == []


class BlindRepository(SqlUserRepository):
    """Never finds an email, like a request that checks just before another
    request inserts the same email."""

    def get_by_email(self, email: str) -> UserRecord | None:
        return None


def test_email_race_is_settled_by_the_unique_index(
    sql_client: TestClient, signup: Signup
) -> None:
    def blind(session: deps.SessionDep) -> UserRepository:
        return BlindRepository(session)

    ada = signup(sql_client, email="ada@example.com")
    bob = signup(sql_client, email="bob@example.com")
    _app(sql_client).dependency_overrides[deps.get_sql_user_repo] = blind
    body = {"name": "Eve", "email": "ada@example.com", "password": "12345678"}
    response = sql_client.post("/users/", json=body)
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "A user with this email already exists"},
    )
    response = sql_client.patch(
        f"/users/{bob['id']}", json={"email": "ada@example.com"}
    )
    assert response.status_code == 409
    _app(sql_client).dependency_overrides.clear()
    assert sql_client.get("/users/").json() == [ada, bob]


@pytest.mark.parametrize("upto", [2, 4])
def test_concurrent_signups_with_one_email(
    make_client: Callable[..., TestClient], upto: int
) -> None:
    client = make_client(upto)
    start = threading.Barrier(6)
    statuses: list[int] = []

    def post() -> None:
        start.wait()
        body = {"name": "Ada", "email": "ada@example.com", "password": "12345678"}
        statuses.append(client.post("/users/", json=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 5
    assert len(client.get("/users/").json()) == 1


def test_nul_in_name_never_reaches_the_database(sql_client: TestClient) -> None:
    body = {"name": "a\x00b", "email": "ada@example.com", "password": "12345678"}
    assert sql_client.post("/users/", json=body).status_code == 422
    assert sql_client.get("/users/").json() == []
