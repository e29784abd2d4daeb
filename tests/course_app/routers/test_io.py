from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(3)


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("delay", [0, 0.01])
def test_wait(client: TestClient, mode: str, delay: float) -> None:
    response = client.get(f"/io/{mode}", params={"delay": delay})
    assert response.status_code == 200
    assert response.json() == {"mode": mode, "delay": delay}


def test_fanout(client: TestClient) -> None:
    response = client.get("/io/fanout", params={"n": 5, "delay": 0.01})
    assert response.status_code == 200
    assert response.json() == {"n": 5, "delay": 0.01, "results": [0, 1, 2, 3, 4]}
    response = client.get("/io/fanout", params={"n": 20, "delay": 0})
    assert response.json()["results"] == list(range(20))


@pytest.mark.parametrize("path", ["/io/async", "/io/sync", "/io/fanout"])
@pytest.mark.parametrize(
    ("delay", "kind"),
    [
        ("-0.01", "greater_than_equal"),
        ("2.01", "less_than_equal"),
        ("1e308", "less_than_equal"),
        ("nan", "finite_number"),
        ("NaN", "finite_number"),
        ("inf", "finite_number"),
        ("-inf", "finite_number"),
        ("soon", "float_parsing"),
    ],
)
def test_delay_bounds(client: TestClient, path: str, delay: str, kind: str) -> None:
    response = client.get(path, params={"delay": delay})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", "delay"], kind)


@pytest.mark.parametrize(
    ("n", "kind"),
    [
        ("0", "greater_than_equal"),
        ("21", "less_than_equal"),
        ("1.5", "int_parsing"),
        (str(10**30), "less_than_equal"),
    ],
)
def test_fanout_n_bounds(client: TestClient, n: str, kind: str) -> None:
    response = client.get("/io/fanout", params={"n": n, "delay": 0})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", "n"], kind)
