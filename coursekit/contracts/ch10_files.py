"""Chapter 10, files and permissions: a picture per user, uploaded and served.

The checks upload real files as a browser's form does (multipart, field
``file``), with a bearer token from ``POST /token``: PNG and JPEG pictures
that start as those formats do, a web page that only claims to be a PNG,
and pictures on both sides of the 1 MiB limit. They sign up two users to see
that one cannot change the other's picture.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from coursekit.contracts.expect import (
    GIVEN,
    expect_header,
    expect_status,
    expect_success,
    fail,
    setup_step,
)
from coursekit.contracts.registry import check
from coursekit.contracts.users import PASSWORD, create_user, new_user

#: The routes the checks set themselves up with: users and tokens are given.
SETUP_TASKS = {
    "POST /users/": GIVEN,
    "POST /token": GIVEN,
    "PUT /users/{user_id}/avatar": "upload",
}

MIB = 1024 * 1024
PNG_START = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8\xff\xe0"


def _picture(start: bytes, size: int = 2048) -> bytes:
    """Bytes that start as a ``start`` picture does, unique to this call."""
    body = uuid.uuid4().bytes * (size // 16 + 1)
    return (start + body)[:size]


def _path(user: dict[str, Any]) -> str:
    return f"/users/{user['id']}/avatar"


def _member(client: httpx.Client, prefix: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A new user and the Authorization header of their token."""
    user = create_user(client, new_user(prefix))
    with setup_step("POST /token", "log in for a token"):
        response = client.post(
            "/token", data={"username": user["email"], "password": PASSWORD}
        )
        token = expect_success(response, {"access_token": str})["access_token"]
    return user, {"Authorization": f"Bearer {token}"}


def _upload(
    client: httpx.Client,
    user: dict[str, Any],
    auth: dict[str, str] | None,
    data: bytes,
    filename: str = "me.png",
    content_type: str = "image/png",
) -> httpx.Response:
    return client.put(
        _path(user), files={"file": (filename, data, content_type)}, headers=auth or {}
    )


def _uploaded(
    client: httpx.Client,
    user: dict[str, Any],
    auth: dict[str, str],
    data: bytes,
    **kwargs: str,
) -> None:
    with setup_step("PUT /users/{user_id}/avatar", "upload a picture"):
        response = _upload(client, user, auth, data, **kwargs)
        if not response.is_success:
            fail(
                "the picture was not accepted",
                expected="2xx to PUT /users/{id}/avatar with a PNG or JPEG file "
                "in the form field `file`, from the user themselves",
                response=response,
            )


def _expect_picture(
    client: httpx.Client, user: dict[str, Any], data: bytes, content_type: str
) -> httpx.Response:
    response = client.get(_path(user))
    expect_status(response, 200)
    got_type = response.headers.get("content-type", "")
    if not got_type.startswith(content_type):
        fail(
            "the picture is served with the wrong type",
            expected=f"Content-Type: {content_type}, found from the file's bytes",
            got=f"Content-Type: {got_type or '(none)'}",
            response=response,
        )
    if response.content != data:
        fail(
            "the picture served is not the one uploaded",
            expected=f"the {len(data)} bytes uploaded, unchanged",
            got=f"{len(response.content)} bytes, not the same",
            response=response,
        )
    return response


@check(
    task="upload",
    points=2,
    hint="`PUT /users/{user_id}/avatar` takes `file: UploadFile` and stores its "
    "bytes and type; `GET` returns `Response(data, media_type=content_type)`.",
)
def png_uploaded_and_served(client: httpx.Client) -> None:
    user, auth = _member(client, "avatar")
    picture = _picture(PNG_START)
    _uploaded(client, user, auth, picture)
    _expect_picture(client, user, picture, "image/png")


@check(
    task="upload",
    points=1,
    hint="Tell the type from the file's first bytes (PNG: `\\x89PNG\\r\\n\\x1a\\n`, "
    "JPEG: `\\xff\\xd8\\xff`), and serve it with that type; a new upload "
    "replaces the old picture.",
)
def jpeg_replaces_png(client: httpx.Client) -> None:
    user, auth = _member(client, "jpeg")
    _uploaded(client, user, auth, _picture(PNG_START))
    # Sent as a generic type: the bytes say what it is.
    photo = _picture(JPEG_START)
    _uploaded(
        client,
        user,
        auth,
        photo,
        filename="photo",
        content_type="application/octet-stream",
    )
    _expect_picture(client, user, photo, "image/jpeg")


@check(
    task="upload",
    points=1,
    hint="`DELETE /users/{user_id}/avatar`: 204, and from then on `GET` answers "
    "404 until a new picture is uploaded.",
)
def avatar_deleted(client: httpx.Client) -> None:
    user, auth = _member(client, "deleted")
    _uploaded(client, user, auth, _picture(PNG_START))
    response = client.delete(_path(user), headers=auth)
    expect_status(response, 204)
    expect_status(client.get(_path(user)), 404)


@check(
    task="upload",
    points=2,
    hint="Check the bytes, not the name or the Content-Type the client sent: "
    "anything that is not PNG or JPEG is `HTTPException(415, ...)`, and the "
    "old picture stays.",
)
def not_an_image_415(client: httpx.Client) -> None:
    user, auth = _member(client, "fake")
    picture = _picture(PNG_START)
    _uploaded(client, user, auth, picture)
    page = b"<html><script>alert(document.cookie)</script></html>"
    response = _upload(client, user, auth, page, filename="cat.png")
    expect_status(response, 415, expected="415: the file is not a PNG or JPEG")
    _expect_picture(client, user, picture, "image/png")


@check(
    task="permissions",
    points=2,
    hint="Compare the token's user with `user_id`: someone else's picture is "
    "`HTTPException(403, ...)` (who you are is known; you may not), for PUT and "
    "DELETE alike.",
)
def others_avatar_403(client: httpx.Client) -> None:
    owner, owner_auth = _member(client, "owner")
    _, intruder_auth = _member(client, "intruder")
    picture = _picture(PNG_START)
    _uploaded(client, owner, owner_auth, picture)
    response = _upload(client, owner, intruder_auth, _picture(PNG_START))
    expect_status(response, 403, expected="403: the token is another user's")
    response = client.delete(_path(owner), headers=intruder_auth)
    expect_status(response, 403, expected="403: the token is another user's")
    _expect_picture(client, owner, picture, "image/png")


@check(
    task="permissions",
    points=1,
    hint="Take the current user as a dependency (`CurrentUserDep`): without a "
    "token the request is 401 with `WWW-Authenticate: Bearer`.",
)
def upload_without_token_401(client: httpx.Client) -> None:
    user, auth = _member(client, "anonymous")
    _uploaded(client, user, auth, _picture(PNG_START))  # the route works...
    response = _upload(client, user, None, _picture(PNG_START))  # ...not for nobody
    expect_status(response, 401)
    expect_header(response, "WWW-Authenticate")


@check(
    task="limits",
    points=2,
    hint="The limit is 1 MiB of picture (1,048,576 bytes): read at most one byte "
    "more than that (`file.file.read(limit + 1)`) and refuse a longer one with "
    "413, keeping the old picture. A file of exactly 1 MiB is accepted.",
)
def size_limit_1_mib(client: httpx.Client) -> None:
    user, auth = _member(client, "large")
    # Exactly at the limit: accepted, though the form around it is larger.
    picture = _picture(PNG_START, MIB)
    response = _upload(client, user, auth, picture)
    if not response.is_success:
        fail(
            "a picture of exactly 1 MiB was refused",
            expected="2xx: 1,048,576 bytes is within the limit",
            response=response,
        )
    response = _upload(client, user, auth, _picture(PNG_START, MIB + 1))
    expect_status(response, 413, expected="413: the picture is over 1 MiB")
    _expect_picture(client, user, picture, "image/png")
