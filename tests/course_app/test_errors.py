import json

import pytest
from fastapi.testclient import TestClient

from course_app.errors import SafeJSONResponse

JSON = {"content-type": "application/json"}


def test_ordinary_content_renders_as_starlette_does() -> None:
    response = SafeJSONResponse({"detail": "é", "n": [1, 2.5]})
    assert response.body == '{"detail":"é","n":[1,2.5]}'.encode()


def test_unrenderable_content_falls_back() -> None:
    response = SafeJSONResponse(
        {"nan": float("nan"), "inf": [float("-inf")], "s": "a\ud800b", "ok": "é"}
    )
    assert json.loads(response.body) == {
        "nan": "nan",
        "inf": ["-inf"],
        "s": "a\ud800b",
        "ok": "é",
    }


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        (b'{"name": NaN, "email": "a@b.co", "password": "12345678"}', "name", "nan"),
        (
            b'{"name": "a", "email": "a@b.co", "password": Infinity}',
            "password",
            "inf",
        ),
        (
            b'{"name": "a\\ud800", "email": "a@b.co", "password": "12345678"}',
            "name",
            "a\ud800",
        ),
    ],
)
def test_bodies_python_parses_but_cannot_echo_give_422(
    client: TestClient, body: bytes, field: str, error: str
) -> None:
    # FastAPI's own handler echoes these inputs and fails to render: a 500.
    response = client.post("/users/", content=body, headers=JSON)
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", field]
    assert detail["input"] == error


def test_whole_body_nan(client: TestClient) -> None:
    response = client.post("/users/", content=b"NaN", headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["input"] == "nan"


def test_normal_validation_errors_are_fastapis(client: TestClient) -> None:
    response = client.post("/users/", json={"name": "Ada"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert [(e["type"], e["loc"]) for e in response.json()["detail"]] == [
        ("missing", ["body", "email"]),
        ("missing", ["body", "password"]),
    ]
