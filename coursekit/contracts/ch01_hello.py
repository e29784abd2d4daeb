"""Chapter 01, hello world: path and query parameters, validation, docs.

Tasks ``validation`` and ``docs`` are tests the learner writes: their checks
are mutants of the reference (``@mutant``), each a bug the learner's test
must catch. What the routes themselves must do is checked under the tasks
that write them (``read_item``).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from coursekit.contracts.expect import (
    expect_equal,
    expect_header,
    expect_json,
    expect_status,
    expect_validation_error,
    fail,
)
from coursekit.contracts.learner_tests import built
from coursekit.contracts.registry import check, mutant


@check(
    task="root",
    points=1,
    hint='Return {"message": "Hello, FastAPI"} from an `@app.get("/")` function.',
)
def root_message(client: httpx.Client) -> None:
    response = client.get("/")
    body = expect_json(response)
    expect_equal(body, {"message": "Hello, FastAPI"}, what="body", response=response)


@check(
    task="read_item",
    points=2,
    hint="Declare `item_id: int` in the path function: FastAPI converts the text "
    "of the URL into an int before your code runs.",
)
def item_id_is_int(client: httpx.Client) -> None:
    response = client.get("/items/42")
    body = expect_json(response)
    expect_equal(body, {"item_id": 42, "q": None}, what="body", response=response)


@check(
    task="read_item",
    points=2,
    hint="A parameter that is not in the path is a query parameter; "
    "`q: str | None = None` makes it optional.",
)
def query_param_echoed(client: httpx.Client) -> None:
    response = client.get("/items/7", params={"q": "blue shoes"})
    body = expect_json(response)
    expected = {"item_id": 7, "q": "blue shoes"}
    expect_equal(body, expected, what="body", response=response)


@check(
    task="read_item",
    points=2,
    hint="Let the `int` annotation do the validation: do not accept `str` and "
    "convert it yourself; FastAPI then answers 422 for text.",
)
def text_item_id_422(client: httpx.Client) -> None:
    response = client.get("/items/abc")
    expect_validation_error(response, ["path", "item_id"], error_type="int_parsing")


@check(
    task="read_item",
    points=1,
    hint="`5.5` is not an integer: with `item_id: int` FastAPI rejects it "
    "instead of rounding.",
)
def float_item_id_422(client: httpx.Client) -> None:
    response = client.get("/items/5.5")
    expect_validation_error(response, ["path", "item_id"], error_type="int_parsing")


_PATHS = ("/", "/items/{item_id}")
_SPEC_URL = re.compile(r"""["']([^"'\s]*openapi\.json)["']""")


def _expect_html(response: httpx.Response) -> None:
    expect_status(response, 200)
    content_type = expect_header(response, "content-type")
    if not content_type.startswith("text/html"):
        fail(
            "not an HTML page",
            expected="200 with content-type text/html",
            got=f"content-type {content_type}",
            response=response,
        )


def _missing_paths(client: httpx.Client, spec_url: str) -> tuple[list[str], str]:
    response = client.get(spec_url)
    schema = expect_json(response)
    paths = schema.get("paths") if isinstance(schema, dict) else None
    if not isinstance(paths, dict):
        fail(
            "no paths in the schema",
            expected='an object with "paths"',
            response=response,
        )
    got = '"paths": ' + ", ".join(sorted(paths)) if paths else "no paths"
    return [p for p in _PATHS if p not in paths], got


def _without_root_path(client: httpx.Client, spec_url: str) -> str:
    # Behind a proxy (JupyterHub's /user/<name>/proxy/<port>) the app's
    # root_path prefixes the spec URL in its docs page; the check talks to the
    # server directly, where the prefix is not served. FastAPI lists that
    # prefix as the schema's first server.
    try:
        servers = client.get("/openapi.json").json().get("servers") or []
        prefix = str(servers[0].get("url", "")).rstrip("/") if servers else ""
    except (httpx.HTTPError, ValueError, AttributeError):
        return spec_url
    if prefix.startswith("/") and spec_url.startswith(prefix + "/"):
        return spec_url[len(prefix) :]
    return spec_url


def _expect_docs_page(client: httpx.Client, path: str) -> None:
    # A docs page counts when it documents this app: it must load the app's
    # OpenAPI document, and that must list the chapter's routes (an app with
    # no routes of its own still serves an empty /docs).
    response = client.get(path)
    _expect_html(response)
    found = _SPEC_URL.search(response.text)
    if found is None:
        fail(
            f"{path} does not point at an OpenAPI document",
            expected="a page that loads /openapi.json",
            response=response,
        )
    missing, got = _missing_paths(client, _without_root_path(client, found.group(1)))
    if missing:
        fail(
            f"{path} documents an API without " + ", ".join(missing),
            expected="documentation listing " + " and ".join(_PATHS),
            got=got,
        )


@check(
    task="read_item",
    points=1,
    hint="FastAPI serves Swagger UI at /docs (unless `docs_url=None` is passed "
    "to `FastAPI(...)`), documenting every route of the app it belongs to.",
)
def swagger_ui(client: httpx.Client) -> None:
    _expect_docs_page(client, "/docs")


@check(
    task="read_item",
    points=1,
    hint="FastAPI serves ReDoc at /redoc (unless `redoc_url=None` is passed "
    "to `FastAPI(...)`), documenting every route of the app it belongs to.",
)
def redoc(client: httpx.Client) -> None:
    _expect_docs_page(client, "/redoc")


@check(
    task="read_item",
    points=1,
    hint="Every path operation you declare appears in /openapi.json; check "
    "that both routes are registered on the app you serve.",
)
def openapi_lists_paths(client: httpx.Client) -> None:
    missing, got = _missing_paths(client, "/openapi.json")
    if missing:
        fail(
            "the schema lacks " + ", ".join(missing),
            expected='"paths" with "/" and "/items/{item_id}"',
            got=got,
        )


# -- the learner's tests: the reference with one bug each --------------------


@mutant(
    task="validation",
    test="test_item_validation",
    bug="`item_id` takes any number, 5.5 included (`item_id: float`)",
    hint="Ask for `/items/5.5` and assert the 422, its `loc` and its "
    '`"type": "int_parsing"`.',
)
def floats_accepted() -> Any:
    return built("floats_accepted")


@mutant(
    task="validation",
    test="test_item_validation",
    bug="a negative id such as -3 is refused with a 422 (`Path(ge=0)`)",
    hint="Also send a valid id that a too-strict route would refuse: "
    "`/items/-3` must answer 200 with `item_id` -3.",
)
def negatives_refused() -> Any:
    return built("negatives_refused")


@mutant(
    task="validation",
    test="test_item_validation",
    bug="the 422's errors do not say what input they refused (no `input`)",
    hint='Assert that the error\'s `"input"` is the text you sent (`"abc"`, `"5.5"`).',
)
def input_not_echoed() -> Any:
    return built("input_not_echoed")


@mutant(
    task="docs",
    test="test_docs",
    bug="there is no Swagger UI at /docs",
    hint="Request `/docs` and assert 200 and a `text/html` content-type.",
)
def no_swagger_ui() -> Any:
    return built("no_swagger_ui")


@mutant(
    task="docs",
    test="test_docs",
    bug="there is no ReDoc at /redoc",
    hint="Request `/redoc` too, and assert 200 and a `text/html` content-type.",
)
def no_redoc() -> Any:
    return built("no_redoc")


@mutant(
    task="docs",
    test="test_docs",
    bug="`GET /` is left out of the OpenAPI document (`include_in_schema=False`)",
    hint='Assert that both `"/"` and `"/items/{item_id}"` are keys of '
    '`schema["paths"]`.',
)
def root_undocumented() -> Any:
    return built("root_undocumented")


@mutant(
    task="docs",
    test="test_docs",
    bug="the schema documents `item_id` as text (`item_id: str`)",
    hint='Find the parameter `item_id` and assert `"type": "integer"` in its `schema`.',
)
def item_id_documented_as_text() -> Any:
    return built("item_id_documented_as_text")


@mutant(
    task="docs",
    test="test_docs",
    bug="`q` is documented as required (`q: str`, without a default)",
    hint='Find the parameter `q` and assert that it is not `"required"`.',
)
def q_required() -> Any:
    return built("q_required")
