import gzip
import json
import re

import pytest
from fastapi.testclient import TestClient

from course_app.routers.catalogue import build_catalogue, catalogue_body, etag_matches

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


def test_catalogue(client: TestClient) -> None:
    response = client.get("/catalogue", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    items = response.json()
    assert len(items) == 1000
    assert [item["id"] for item in items] == list(range(1, 1001))
    assert set(items[0]) == {"id", "name", "description", "price"}
    assert all(1 <= item["price"] <= 101 for item in items)
    assert 40_000 < len(response.content) < 80_000
    assert response.headers["cache-control"] == "public, max-age=60"
    assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["etag"])  # strong


def test_content_and_etag_are_deterministic() -> None:
    body, etag = catalogue_body()
    assert catalogue_body() == (body, etag)  # built once
    rebuilt = json.dumps(
        [item.model_dump() for item in build_catalogue()], separators=(",", ":")
    ).encode()
    assert rebuilt == body


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', '"a",W/{etag} , "b"', "*", " * "],
)
def test_not_modified(client: TestClient, if_none_match: str) -> None:
    etag = client.get("/catalogue").headers["etag"]
    response = client.get(
        "/catalogue", headers={"If-None-Match": if_none_match.format(etag=etag)}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=60"


@pytest.mark.parametrize("if_none_match", ['"other"', "", "garbage", 'W/"x", "y"'])
def test_modified(client: TestClient, if_none_match: str) -> None:
    response = client.get("/catalogue", headers={"If-None-Match": if_none_match})
    assert response.status_code == 200
    assert len(response.json()) == 1000


def test_etag_matches() -> None:
    assert etag_matches('"abc"', '"abc"')
    assert etag_matches('W/"abc"', '"abc"')
    assert etag_matches('"abc"', 'W/"abc"')
    assert etag_matches('"x,y", "abc"', '"abc"')  # a comma inside a tag
    assert not etag_matches('"x,y"', '"y"')
    assert not etag_matches('"abcd"', '"abc"')
    assert not etag_matches("abc", '"abc"')  # unquoted is not an entity tag


def test_large_responses_are_gzipped(client: TestClient) -> None:
    response = client.get("/catalogue", headers=GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    compressed = int(response.headers["content-length"])
    assert compressed < len(response.content) / 3
    # httpx decodes it; the client could as well by hand.
    assert gzip.decompress(gzip.compress(response.content)) == response.content
    assert len(response.json()) == 1000


def test_small_responses_are_not_gzipped(client: TestClient) -> None:
    response = client.get("/", headers=GZIP)
    assert "content-encoding" not in response.headers


def test_no_gzip_without_accept_encoding(client: TestClient) -> None:
    response = client.get("/catalogue", headers=IDENTITY)
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(response.content)
