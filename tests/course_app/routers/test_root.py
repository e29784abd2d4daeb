from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(1)


def test_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, FastAPI"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/items/5", {"item_id": 5, "q": None}),
        ("/items/5?q=text", {"item_id": 5, "q": "text"}),
        ("/items/-3?q=", {"item_id": -3, "q": ""}),
        # No database behind this route: any integer is fine.
        (f"/items/{10**30}", {"item_id": 10**30, "q": None}),
        ("/items/1?q=%00%E2%82%AC", {"item_id": 1, "q": "\x00€"}),
    ],
)
def test_read_item(client: TestClient, url: str, expected: dict[str, object]) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert response.json() == expected


@pytest.mark.parametrize(
    ("item_id", "kind"),
    [("abc", "int_parsing"), ("5.5", "int_parsing"), ("9" * 5000, "int_parsing_size")],
)
def test_item_id_must_be_an_integer(
    client: TestClient, item_id: str, kind: str
) -> None:
    response = client.get(f"/items/{item_id}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["path", "item_id"], kind)
