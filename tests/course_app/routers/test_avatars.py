"""Chapter 10's avatars: uploads, types from the bytes, limits, 403."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from course_app.avatars import MAX_AVATAR_BYTES, image_type

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(10)


def member(
    client: TestClient, signup: Callable[..., dict[str, Any]], name: str
) -> tuple[int, dict[str, str]]:
    user = signup(client, email=f"{name}@example.com", name=name)
    login = {"username": f"{name}@example.com", "password": "correct horse"}
    token = client.post("/token", data=login).json()["access_token"]
    return user["id"], {"Authorization": f"Bearer {token}"}


def put(
    client: TestClient, user_id: int, auth: dict[str, str], data: bytes, **kw: str
) -> Any:
    name, kind = kw.get("name", "me.png"), kw.get("kind", "image/png")
    files = {"file": (name, data, kind)}
    return client.put(f"/users/{user_id}/avatar", files=files, headers=auth)


def test_the_type_is_read_from_the_bytes() -> None:
    assert image_type(PNG) == "image/png"
    assert image_type(JPEG) == "image/jpeg"
    assert image_type(b"GIF89a") is None
    assert image_type(b"<html>") is None


def test_upload_serve_304_replace_and_delete(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    ada, auth = member(client, signup, "ada")
    assert put(client, ada, auth, PNG).status_code == 204
    got = client.get(f"/users/{ada}/avatar")
    assert (got.status_code, got.content) == (200, PNG)
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    etag = got.headers["etag"]
    again = client.get(f"/users/{ada}/avatar", headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    # Sent as anything at all: the bytes say JPEG, and it replaces the PNG.
    assert put(client, ada, auth, JPEG, kind="text/plain").status_code == 204
    got = client.get(f"/users/{ada}/avatar")
    assert got.headers["content-type"] == "image/jpeg" and got.headers["etag"] != etag
    assert client.delete(f"/users/{ada}/avatar", headers=auth).status_code == 204
    assert client.get(f"/users/{ada}/avatar").status_code == 404
    assert client.delete(f"/users/{ada}/avatar", headers=auth).status_code == 404


def test_only_the_owner_changes_it(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    ada, ada_auth = member(client, signup, "ada")
    _, grace_auth = member(client, signup, "grace")
    put(client, ada, ada_auth, PNG)
    assert put(client, ada, grace_auth, JPEG).status_code == 403
    assert client.delete(f"/users/{ada}/avatar", headers=grace_auth).status_code == 403
    assert put(client, ada, {}, JPEG).status_code == 401
    assert client.get(f"/users/{ada}/avatar").content == PNG


def test_not_a_picture_or_too_large_is_refused_and_the_old_one_stays(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    ada, auth = member(client, signup, "ada")
    put(client, ada, auth, PNG)
    assert put(client, ada, auth, b"<html>", name="cat.png").status_code == 415
    exactly = PNG + bytes(MAX_AVATAR_BYTES - len(PNG))
    assert put(client, ada, auth, exactly).status_code == 204
    assert put(client, ada, auth, exactly + b"x").status_code == 413
    # Far over: FastAPI's body limit answers before the form is parsed.
    huge = put(client, ada, auth, exactly + bytes(100_000))
    assert huge.status_code == 413
    assert client.get(f"/users/{ada}/avatar").content == exactly


def test_an_id_past_64_bits_has_no_avatar(client: TestClient) -> None:
    assert client.get(f"/users/{2**64}/avatar").status_code == 404
