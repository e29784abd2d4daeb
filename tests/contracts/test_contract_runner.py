"""The runner: every outcome of a check becomes a result, and reports are stable."""

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from coursekit.contracts import (
    Check,
    CheckSkipped,
    ServerUnreachable,
    format_report,
    probe,
    run_check,
)
from coursekit.contracts.expect import expect_status, fail, unique_email
from coursekit.serve import LiveServer


def make_check(func: Callable[..., Any], name: str = "sample") -> Check:
    return Check("01", "demo", name, 2, "Try harder.", func)


@pytest.fixture(scope="module")
def url(live: Callable[[Any], LiveServer]) -> str:
    app = FastAPI()

    @app.get("/slow")
    def slow() -> dict[str, str]:
        time.sleep(0.5)
        return {"ok": "late"}

    @app.post("/echo")
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    return live(app).url


def test_passed(url: str) -> None:
    result = run_check(make_check(lambda c: expect_status(c.get("/docs"), 200)), url)
    assert (result.status, result.points, result.max_points) == ("passed", 2, 2)
    assert result.duration > 0


def test_failed_carries_request_expected_got(url: str) -> None:
    def sends_json(client: httpx.Client) -> None:
        expect_status(client.post("/echo", json={"email": unique_email()}), 201)

    result = run_check(make_check(sends_json), url)
    assert (result.status, result.points) == ("failed", 0)
    assert result.message == "status 200, expected 201"
    assert result.request.startswith('POST /echo {"email": "learner-')
    assert result.expected == "201"
    assert result.got.startswith('200 {"email":"learner-')


def test_failure_without_response_reports_the_last_request(url: str) -> None:
    def judges_later(client: httpx.Client) -> None:
        client.get("/nowhere", params={"q": "a b"})
        fail("not good", expected="good")

    result = run_check(make_check(judges_later), url)
    assert result.request == "GET /nowhere?q=a b"
    assert result.got == '404 {"detail":"Not Found"}'


def test_crash_in_check_is_an_error(url: str) -> None:
    result = run_check(make_check(lambda c: c.get("/docs").json()["x"]), url)
    assert result.status == "error"
    assert result.message.startswith("the check crashed: JSONDecodeError")


def test_request_timeout_is_a_failure(url: str) -> None:
    result = run_check(make_check(lambda c: c.get("/slow")), url, request_timeout=0.1)
    assert (result.status, result.message) == (
        "failed",
        "the server did not answer in time",
    )
    assert result.request == "GET /slow"


def test_check_timeout_is_a_failure(url: str) -> None:
    result = run_check(make_check(lambda c: time.sleep(0.3)), url, timeout=0.05)
    assert result.status == "failed"
    assert result.message == "the check did not finish within 0.05 s"
    time.sleep(0.3)  # let the abandoned thread end before the next test


def test_connection_refused_is_a_failure() -> None:
    result = run_check(make_check(lambda c: c.get("/")), "http://127.0.0.1:9")
    assert (result.status, result.message, result.got) == (
        "failed",
        "could not connect to the server",
        "connection refused",
    )


def test_secret_key_reaches_checks_that_ask(url: str) -> None:
    seen: list[str | None] = []

    def needs_key(client: httpx.Client, secret_key: str | None = None) -> None:
        if secret_key is None:
            raise CheckSkipped("no key")
        seen.append(secret_key)

    check = make_check(needs_key)
    assert check.needs_secret_key
    skipped = run_check(check, url)
    assert (skipped.status, skipped.points, skipped.max_points) == ("skipped", 0, 2)
    assert run_check(check, url, secret_key="k").status == "passed"
    assert seen == ["k"]


def test_report_is_deterministic(url: str) -> None:
    def leaks(client: httpx.Client) -> None:
        email = unique_email("ada")
        expect_status(
            client.post("/echo", json={"email": email, "t": "eyJa.eyJb.c"}), 201
        )

    checks = [make_check(leaks, "leaks"), make_check(lambda c: None, "fine")]
    reports = [format_report([run_check(c, url) for c in checks]) for _ in range(2)]
    assert reports[0] == reports[1]
    assert reports[0] == "\n".join(
        [
            "Chapter 01: hello world",
            "✗ demo / leaks  0/2",
            "    problem:  status 200, expected 201",
            "    request:  POST /echo "
            '{"email": "ada-xxxx@example.com", "t": "<token>"}',
            "    expected: 201",
            '    got:      200 {"email":"ada-xxxx@example.com","t":"<token>"}',
            "    hint:     Try harder.",
            "✓ demo / fine  2/2",
            "2/4 points (1/2 checks passed)",
        ]
    )


def test_probe(url: str) -> None:
    probe(url)
    with pytest.raises(ServerUnreachable, match="cannot connect"):
        probe("http://127.0.0.1:9")


def test_a_500_does_not_break_the_next_request(
    live: Callable[[Any], LiveServer],
) -> None:
    # uvicorn closes the connection after an exception in the app, once it
    # has logged it. A slow log (a busy machine) leaves that connection in
    # the client's pool long enough for the next request to pick it.
    app = FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a learner's bug")

    @app.get("/fine")
    def fine() -> dict[str, bool]:
        return {"ok": True}

    class SlowLog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            time.sleep(0.3)

    url = live(app).url
    handler = SlowLog(level=logging.ERROR)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:

        def after_a_500(client: httpx.Client) -> None:
            expect_status(client.get("/boom"), 500)
            expect_status(client.get("/fine"), 200)

        result = run_check(make_check(after_a_500), url)
    finally:
        logger.removeHandler(handler)
    assert (result.status, result.message) == ("passed", "")
