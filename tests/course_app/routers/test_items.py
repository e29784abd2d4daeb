from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(4)


def _item(n: int) -> dict[str, object]:
    return {"id": n, "name": f"Item {n}"}


def test_first_page(client: TestClient) -> None:
    response = client.get("/items/")
    assert response.status_code == 200
    assert response.json() == {
        "q": None,
        "skip": 0,
        "limit": 10,
        "total": 100,
        "items": [_item(n) for n in range(1, 11)],
    }


def test_pages(client: TestClient) -> None:
    body = client.get("/items/?skip=95&limit=10").json()
    assert body["items"] == [_item(n) for n in range(96, 101)]
    assert body["total"] == 100
    assert client.get("/items/?skip=100").json()["items"] == []
    assert len(client.get("/items/?limit=100").json()["items"]) == 100


def test_search_ignores_case(client: TestClient) -> None:
    body = client.get("/items/?q=ITEM 1&limit=100").json()
    expected = [1, *range(10, 20), 100]
    assert (body["q"], body["total"]) == ("ITEM 1", len(expected))
    assert body["items"] == [_item(n) for n in expected]
    assert client.get("/items/?q=nothing").json()["total"] == 0
    # An empty q matches every name.
    assert client.get("/items/?q=").json()["total"] == 100


def test_search_then_page(client: TestClient) -> None:
    body = client.get("/items/?q=5&skip=2&limit=3").json()
    matches = [n for n in range(1, 101) if "5" in str(n)]
    assert body["total"] == len(matches)
    assert body["items"] == [_item(n) for n in matches[2:5]]


def test_item_by_id_still_works(client: TestClient) -> None:
    assert client.get("/items/7?q=x").json() == {"item_id": 7, "q": "x"}
