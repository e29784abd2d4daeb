"""How a learner's test function is called: plain or `async def`, never raising."""

import asyncio
from typing import Any

from coursekit.contracts.learner_tests import call


class FakeAsyncClient:
    """Stands in for httpx.AsyncClient: only its `async with` is used here."""

    entered = exited = 0

    async def __aenter__(self) -> "FakeAsyncClient":
        FakeAsyncClient.entered += 1
        return self

    async def __aexit__(self, *exc: Any) -> None:
        FakeAsyncClient.exited += 1


def test_a_plain_test_gets_the_client() -> None:
    seen = []
    assert call(seen.append, "client").passed
    assert seen == ["client"]


def test_an_async_test_gets_the_async_client_and_its_failures_count() -> None:
    async def passes(client: Any) -> None:
        await asyncio.sleep(0)
        assert isinstance(client, FakeAsyncClient)

    async def fails(client: Any) -> None:
        raise AssertionError("no cookie")

    before = FakeAsyncClient.exited
    assert call(passes, "sync client", FakeAsyncClient).passed
    outcome = call(fails, "sync client", FakeAsyncClient)
    assert (outcome.outcome, outcome.error) == ("failed", "AssertionError: no cookie")
    assert FakeAsyncClient.exited == before + 2  # closed after each run


def test_an_async_test_runs_where_a_loop_is_already_running() -> None:
    # A notebook's kernel runs one in the thread that calls check().
    async def test(client: Any) -> None:
        await asyncio.sleep(0)

    async def from_inside_a_loop() -> bool:
        return call(test, "sync client", FakeAsyncClient).passed

    assert asyncio.run(from_inside_a_loop())


def test_an_async_test_without_an_async_client_is_a_clear_failure() -> None:
    async def test(client: Any) -> None:
        pass

    outcome = call(test, "sync client")
    assert outcome.outcome == "failed" and "`async def`" in outcome.error


def test_a_plain_test_returning_a_coroutine_is_told_to_be_async() -> None:
    def test(client: Any) -> Any:
        return asyncio.sleep(0)

    outcome = call(test, "sync client", FakeAsyncClient)
    assert outcome.outcome == "failed" and "write `async def`" in outcome.error
