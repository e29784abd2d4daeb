"""The assertion helpers: what a learner reads when a check fails."""

from typing import Any

import httpx
import pytest

from coursekit.contracts.expect import (
    CheckFailed,
    describe_request,
    expect_detail,
    expect_equal,
    expect_fields,
    expect_header,
    expect_validation_error,
    find_keys,
    redact,
)


def response(status: int, body: Any = None, **request: Any) -> httpx.Response:
    req = httpx.Request(request.pop("method", "GET"), "http://testserver/p", **request)
    if body is None:
        return httpx.Response(status, request=req)
    return httpx.Response(status, json=body, request=req)


def failure(func: Any, *args: Any, **kwargs: Any) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        func(*args, **kwargs)
    return info.value


def test_validation_error() -> None:
    detail = [{"type": "int_parsing", "loc": ["path", "item_id"], "msg": "m"}]
    ok = response(422, {"detail": detail})
    expect_validation_error(ok, ["path", "item_id"], error_type="int_parsing")
    wrong_loc = failure(expect_validation_error, ok, ["query", "item_id"])
    assert wrong_loc.message == 'no validation error at ["query", "item_id"]'
    assert wrong_loc.expected == '422 with an error at loc ["query", "item_id"]'
    wrong_type = failure(
        expect_validation_error, ok, ["path", "item_id"], error_type="x"
    )
    assert wrong_type.message == 'the error at ["path", "item_id"] has the wrong type'
    not_422 = failure(expect_validation_error, response(200, {}), ["path", "item_id"])
    assert (not_422.message, not_422.got) == ("status 200, expected 422", "200 {}")


def test_detail_and_header() -> None:
    got = failure(
        expect_detail, response(401, {"detail": "Nope"}), 401, "Not authenticated"
    )
    assert got.message == "wrong error detail"
    assert got.expected == '401 {"detail": "Not authenticated"}'
    missing = failure(expect_header, response(200), "ETag")
    assert (missing.expected, missing.got) == ("header ETag", "no ETag header")


def test_fields() -> None:
    fields = {"id": int, "name": str}
    expect_fields(
        {"id": 1, "name": "a", "extra": 0}, fields, what="body", response=response(200)
    )
    boolean = failure(
        expect_fields,
        {"id": True, "name": "a"},
        fields,
        what="body",
        response=response(200),
    )
    assert boolean.message == 'body: field "id" has true'
    absent = failure(
        expect_fields, {"id": 1}, fields, what="body", response=response(200)
    )
    assert absent.message == 'body: field "name" missing'
    assert absent.expected == "body {id: int, name: str}"


def test_find_keys() -> None:
    body = [{"id": 1, "user": {"hashed_password": "h"}}, {"password": "p"}]
    assert find_keys(body, ["password", "hashed_password"]) == [
        "[0].user.hashed_password",
        "[1].password",
    ]


def test_describe_request() -> None:
    form = httpx.Request(
        "POST",
        "http://testserver/token?x=a%20b",
        data={"username": "a@example.com", "password": "pw"},
        headers={"Authorization": "Bearer abc", "If-None-Match": '"e"'},
    )
    assert describe_request(form) == (
        "POST /token?x=a b username=a@example.com&password=pw "
        "[Authorization: Bearer <token>] [If-None-Match: <ETag>]"
    )
    assert describe_request(httpx.Request("PATCH", "http://t/u/1", json={"n": 1})) == (
        'PATCH /u/1 {"n": 1}'
    )


def test_redact() -> None:
    text = 'a-0123456789ab@example.com eyJh.eyJz.sig "$argon2id$v=19$m=1$salt$hash"'
    assert redact(text) == 'a-xxxx@example.com <token> "<hash>"'


@pytest.mark.parametrize(
    ("expected", "actual", "where", "wanted", "got"),
    [
        ({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 3]}, "body.b[1]", "2", "3"),
        ({"a": 1}, {"a": 1, "z": 0}, "body", "no other fields", '"z": 0'),
        ({"a": 1}, {}, "body.a", "1", "missing"),
        ({"a": [1, 2]}, {"a": [1]}, "body.a", "2 items", "1 items"),
        ({"a": 1}, {"a": True}, "body.a", "1", "true"),
        ({"a": None}, [], "body", '{"a": null}', "[]"),
    ],
)
def test_equal_names_the_first_difference(
    expected: Any, actual: Any, where: str, wanted: str, got: str
) -> None:
    error = failure(expect_equal, actual, expected, what="body", response=response(200))
    assert (error.message, error.expected, error.got) == (
        f"unexpected {where}",
        f"{where}: {wanted}",
        f"{where}: {got}",
    )
