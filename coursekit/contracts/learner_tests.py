"""Grading the tests a learner writes: mutation testing for API tests.

Where a task asks the learner for a test function (``test_docs(client)``),
it is graded by running it: against the chapter's reference app, where it
must pass (a test that fails on correct code catches nothing), and against
the task's mutants (``registry.mutant``), each the reference with one bug;
each mutant it fails against earns that mutant's points. A test left
undone, one that always passes and one that always fails all earn nothing.

``results`` turns the runs into the chapter's ``CheckResult``s, for
``check()`` in a notebook (``run_here``: the learner's own test in its own
kernel, against apps served there) and for the grader (which runs the test
in a sandbox of its own, ``coursekit.grading.mutation``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coursekit.contracts.registry import Check
from coursekit.contracts.runner import CheckResult

__all__ = [
    "Outcome",
    "built",
    "by_function",
    "reference_app",
    "results",
    "run_here",
]


@dataclass(frozen=True)
class Outcome:
    """How one run of a learner's test ended."""

    #: "passed", "failed" (it raised: an assertion, or anything else),
    #: "timeout", "crashed" (it ended the process), "missing" (no such
    #: function in the notebook).
    outcome: str
    #: What it raised, in the learner's own words (quote it when shown).
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def reference_app(chapter: str) -> Any:
    """The reference a chapter's learner tests must pass against, built fresh."""
    from coursekit.contracts.mutant_apps import fresh_app

    return fresh_app(int(chapter))


def built(name: str) -> Any:
    """The app of the mutant ``name``, built fresh (``mutant_apps``)."""
    # Imported only now: it imports FastAPI and the reference.
    from coursekit.contracts import mutant_apps

    return getattr(mutant_apps, name)()


def by_function(checks: Sequence[Check]) -> dict[str, list[Check]]:
    """The mutant checks, grouped by the learner's test function they are for."""
    groups: dict[str, list[Check]] = {}
    for check in checks:
        if check.is_mutant:
            groups.setdefault(check.test_function, []).append(check)
    return groups


def _result(
    check: Check, status: str, message: str = "", **details: str
) -> CheckResult:
    return CheckResult(
        id=check.id,
        chapter=check.chapter,
        task=check.task,
        name=check.name,
        status=status,
        points=check.points if status == "passed" else 0,
        max_points=check.points,
        hint=check.hint,
        message=message,
        expected=details.get("expected", ""),
        got=details.get("got", ""),
    )


def results(
    checks: Sequence[Check],
    reference: Outcome,
    mutants: Mapping[str, Outcome],
) -> list[CheckResult]:
    """The results of one test function's ``checks`` (its mutants).

    ``reference`` is its run against the reference, ``mutants`` its run
    against each mutant, by check name.
    """
    found: list[CheckResult] = []
    for check in checks:
        name = f"`{check.test_function}`"
        if reference.outcome == "missing":
            found.append(
                _result(
                    check,
                    "failed",
                    f"no function {name} in the notebook",
                    expected=f"a function {name}(client) that tests the app",
                    got="no such function (write it in the task's cell)",
                )
            )
        elif not reference.passed:
            found.append(
                _result(
                    check,
                    "failed",
                    f"{name} fails against a correct app, so it catches nothing",
                    expected=f"{name} passes against the chapter's reference app",
                    got=f"{reference.outcome}: {reference.error}".rstrip(": "),
                )
            )
        else:
            outcome = mutants.get(check.name, Outcome("missing"))
            if outcome.passed:
                found.append(
                    _result(
                        check,
                        "failed",
                        f"{name} passes against an app where {check.bug}",
                        expected=f"{name} fails (an AssertionError) against that app",
                        got=f"{name} passed",
                    )
                )
            else:
                found.append(_result(check, "passed"))
    return found


def call(
    function: Callable[..., Any],
    client: Any,
    async_client: Callable[[], Any] | None = None,
) -> Outcome:
    """Run a test function with ``client``; never raises (but for Ctrl-C).

    An ``async def`` test gets an ``httpx.AsyncClient`` on the same app
    instead, made by ``async_client()``, and runs on an event loop of its own
    in a thread (a notebook's kernel already runs one in this thread).
    """
    try:
        if inspect.iscoroutinefunction(function):
            if async_client is None:
                raise TypeError("an `async def` test cannot be run here")
            _run_async(function, async_client)
        else:
            returned = function(client)
            if inspect.isawaitable(returned):
                close = getattr(returned, "close", None)
                if close is not None:
                    close()
                raise TypeError(
                    "the test returned an awaitable without being `async def`: "
                    "write `async def` and `await` what it returns"
                )
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return Outcome("failed", f"{type(exc).__name__}: {exc}"[:500])
    return Outcome("passed")


def _run_async(function: Callable[..., Any], async_client: Callable[[], Any]) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def main() -> None:
        async with async_client() as client:
            await function(client)

    with ThreadPoolExecutor(1, thread_name_prefix="coursekit-async-test") as pool:
        pool.submit(lambda: asyncio.run(main())).result()


def run_here(
    checks: Sequence[Check], namespace: Mapping[str, Any], chapter: str
) -> list[CheckResult]:
    """Mutation-test the learner's functions in this process (``check()``).

    Each app (the reference, each mutant) is served for real and the test
    gets an ``httpx.Client`` on it (an ``httpx.AsyncClient`` if it is
    ``async def``), as in grading.
    """
    found: list[CheckResult] = []
    for function_name, group in by_function(checks).items():
        function = namespace.get(function_name)
        reference = _run_served(function, reference_app(chapter))
        mutants: dict[str, Outcome] = {}
        if reference.passed:
            mutants = {
                check.name: _run_served(function, check.func()) for check in group
            }
        found += results(group, reference, mutants)
    return found


def _run_served(function: Any, app: Any) -> Outcome:
    import httpx

    from coursekit.serve import serve

    if not callable(function):
        return Outcome("missing")
    with (
        serve(app, name="coursekit-learner-test", show=False) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        return call(
            function,
            client,
            lambda: httpx.AsyncClient(base_url=server.url, timeout=10),
        )
