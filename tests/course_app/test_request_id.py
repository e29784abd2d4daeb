"""Chapter 8's request id middleware, on a small app of its own."""

import logging
import re

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from course_app.request_id import RequestIdMiddleware, new_request_id, valid_request_id


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)

    @app.get("/id")
    def read_id(request: Request) -> dict[str, str]:
        return {"request_id": request.state.request_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def test_a_valid_client_id_is_kept_and_the_route_sees_it(client: TestClient) -> None:
    response = client.get("/id", headers={"X-Request-ID": "front-end.42_a-b"})
    assert response.headers["x-request-id"] == "front-end.42_a-b"
    assert response.json() == {"request_id": "front-end.42_a-b"}


@pytest.mark.parametrize("unsafe", ["", "x" * 65, "has space", "<script>", "a;b"])
def test_an_unsafe_id_is_replaced_by_a_new_one(client: TestClient, unsafe: str) -> None:
    response = client.get("/id", headers={"X-Request-ID": unsafe})
    got = response.headers["x-request-id"]
    assert got != unsafe and re.fullmatch(r"[0-9a-f]{32}", got)
    assert response.json() == {"request_id": got}


def test_each_request_gets_its_own_id_and_a_timing(client: TestClient) -> None:
    first, second = client.get("/id"), client.get("/id")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert re.fullmatch(r"app;dur=\d+\.\d", first.headers["server-timing"])


def test_an_unhandled_error_is_a_500_that_names_the_id_as_the_log_does(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="course_app.request_id"):
        response = client.get("/boom", headers={"X-Request-ID": "bug-42"})
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal Server Error",
        "request_id": "bug-42",
    }
    assert response.headers["x-request-id"] == "bug-42"
    [record] = caplog.records
    assert "bug-42" in record.getMessage() and record.exc_info is not None


def test_the_id_rules() -> None:
    assert valid_request_id("a" * 64) and not valid_request_id("a" * 65)
    assert not valid_request_id("a\nb")
    assert valid_request_id(new_request_id())
    assert new_request_id() != new_request_id()
