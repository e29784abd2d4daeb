"""show(): a response printed the way the lessons want it."""

from __future__ import annotations

import httpx
import pytest

from coursekit.show import MAX_BODY, show


def response(status: int = 200, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "http://x/"), **kwargs)


def test_status_line_content_type_and_indented_json(capsys) -> None:
    show(response(422, json={"detail": [{"loc": ["path", "item_id"], "n": 1}]}))
    assert capsys.readouterr().out == (
        "HTTP 422 Unprocessable Entity\n"
        "content-type: application/json\n"
        "{\n"
        '  "detail": [\n'
        "    {\n"
        '      "loc": ["path", "item_id"],\n'
        '      "n": 1\n'
        "    }\n"
        "  ]\n"
        "}\n"
    )


def test_named_headers_and_headers_not_sent(capsys) -> None:
    show(
        response(
            401,
            json={"detail": "Not authenticated"},
            headers={"WWW-Authenticate": "Bearer"},
        ),
        "www-authenticate",
        "x-cache",
    )
    out = capsys.readouterr().out
    assert "www-authenticate: Bearer\n" in out
    assert "x-cache: (not sent)\n" in out
    assert "date" not in out


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({}, "(no body)"),
        ({"text": "plain words"}, "plain words"),
        ({"json": []}, "[]"),
        ({"json": {"names": ["é", "ü"]}}, '{\n  "names": ["é", "ü"]\n}'),
    ],
)
def test_bodies(capsys, kwargs, body) -> None:
    show(response(200, **kwargs))
    assert capsys.readouterr().out.split("\n", 2)[2] == body + "\n"


def test_long_lists_and_nested_values_are_not_squeezed_onto_one_line(capsys) -> None:
    show(response(json=[{"id": 1}, {"id": 2}]))
    assert capsys.readouterr().out.endswith(
        '[\n  {\n    "id": 1\n  },\n  {\n    "id": 2\n  }\n]\n'
    )


def test_a_huge_body_is_summarised(capsys) -> None:
    show(response(json=[{"id": i, "name": f"Item {i}"} for i in range(1000)]))
    out = capsys.readouterr().out
    assert out.rstrip().endswith("bytes in all)")
    assert len(out) < MAX_BODY + 200


def test_invalid_json_with_a_json_content_type_is_shown_as_text(capsys) -> None:
    show(response(content=b"{oops", headers={"content-type": "application/json"}))
    assert capsys.readouterr().out.endswith("{oops\n")


def test_the_status_phrase_does_not_depend_on_the_servers_python(capsys) -> None:
    # uvicorn on Python 3.13+ sends "Unprocessable Content" for 422.
    show(response(422, json={}, extensions={"reason_phrase": b"Unprocessable Content"}))
    assert capsys.readouterr().out.startswith("HTTP 422 Unprocessable Entity\n")
