"""Run a chapter's checks against a live server and report the outcome.

Each check gets a fresh ``httpx.Client`` pointed at the server and runs in
its own thread under a deadline, so a server that hangs costs one check, not
the whole run. Whatever a check raises becomes a result; nothing escapes.

A check whose set-up step fails (``SetupFailed``: it could not create the
user or get the token it needs) has tested nothing of its own: its result
names, in ``blocked_by``, the chapter's task that owns the broken route
(``SETUP_TASKS`` in the chapter's module), and its hint points there.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from coursekit.contracts.expect import (
    GIVEN,
    CheckFailed,
    CheckSkipped,
    SetupFailed,
    describe_http_error,
    describe_request,
    describe_response,
    redact,
    track_setup,
)
from coursekit.contracts.registry import CHAPTERS, Check, checks_for, normalize_chapter
from coursekit.contracts.stored import StoredFiles
from coursekit.contracts.ws_client import WebSocketOpener
from coursekit.uds import unix_transport

__all__ = [
    "CheckResult",
    "ServerUnreachable",
    "format_report",
    "probe",
    "run_check",
    "run_checks",
    "setup_tasks",
]

#: Seconds one check may take in all (the slowest correct check, the cache
#: expiry of chapter 06, waits up to twice the cache's TTL, 5 s by default).
CHECK_TIMEOUT = 30.0
#: The environment variable the CLI reads the server's signing key from.
SECRET_KEY_ENV = "COURSEKIT_SECRET_KEY"
#: Where the app finds its Redis (chapter 07's settings), and so the checks.
REDIS_URL_ENV = "REDIS_URL"
#: Seconds one request may take (a wrong server may wait up to 5 s on purpose).
REQUEST_TIMEOUT = 10.0


class ServerUnreachable(ConnectionError):
    """Nothing answers HTTP at the given URL."""


@dataclass
class CheckResult:
    """The outcome of one check.

    ``status`` is ``"passed"``, ``"failed"`` (the server broke the contract,
    or did not answer), ``"error"`` (the check itself crashed, which is a bug
    in the check or a response too odd to judge) or ``"skipped"``.
    """

    id: str
    chapter: str
    task: str
    name: str
    status: str
    points: int
    max_points: int
    hint: str
    message: str = ""
    expected: str = ""
    got: str = ""
    request: str = ""
    duration: float = 0.0
    measured: dict[str, float] = field(default_factory=dict)
    #: The task whose failure kept this check from testing anything: one of
    #: its set-up steps (creating a user, logging in...) failed on that
    #: task's route. ``"given"`` when the route is not one of the chapter's
    #: tasks; empty when nothing blocked the check.
    blocked_by: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


class _Recorder:
    """Keeps the last request and response a client saw (httpx event hooks)."""

    def __init__(self) -> None:
        self.request: httpx.Request | None = None
        self.response: httpx.Response | None = None

    def on_request(self, request: httpx.Request) -> None:
        self.request, self.response = request, None

    def on_response(self, response: httpx.Response) -> None:
        self.response = response

    def describe(self) -> tuple[str, str]:
        request = describe_request(self.request) if self.request else ""
        got = ""
        if self.response is not None and self.response.is_closed:
            got = describe_response(self.response)
        return request, got


def _client(
    base_url: str, recorder: _Recorder, timeout: float, uds: str | None = None
) -> httpx.Client:
    # A Unix socket: the grader's way into a sandbox that has no network.
    transport = unix_transport(uds) if uds is not None else None
    return httpx.Client(
        base_url=base_url,
        transport=transport,
        # The checks talk plain HTTP to a local server. Left at its default,
        # each new client loads the system's CA bundle (~25 ms) for nothing.
        verify=not base_url.startswith("http://"),
        follow_redirects=True,
        timeout=timeout,
        # A connection per request. uvicorn closes a connection after an
        # exception in the app (a learner's 500), a moment after the
        # response; a busy machine let the next check pick that connection
        # from the pool first and fail with "Server disconnected", a check
        # that had nothing to do with the 500.
        headers={"Connection": "close"},
        # Enough for the concurrent checks (10 requests at once, plus one).
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        event_hooks={
            "request": [recorder.on_request],
            "response": [recorder.on_response],
        },
    )


def setup_tasks(chapter: str | int) -> dict[str, str]:
    """The chapter's ``SETUP_TASKS``: set-up route -> the task owning it, or GIVEN."""
    module = f"{__package__}.{CHAPTERS[normalize_chapter(chapter)][1]}"
    return dict(getattr(importlib.import_module(module), "SETUP_TASKS", {}))


def _blocked(result: CheckResult, exc: SetupFailed, task: str) -> None:
    result.blocked_by = task
    if task == GIVEN:
        result.message = (
            f"set-up failed: {exc.route} is given, not a task of this chapter "
            f"(it comes with the exercise or the reference it builds on): "
            f"{exc.message}"
        )
        result.hint = (
            f"Fix {exc.route} first: this check needs it to {exc.purpose} and "
            "never got to its own test. It is given code: undo your changes to "
            "it (or re-run the set-up cell), then check again."
        )
    else:
        result.message = f"set-up failed: see task {task} ({exc.message})"
        result.hint = (
            f"Fix task {task} first: this check needs {exc.route} to "
            f"{exc.purpose} and never got to its own test; once {task} passes, "
            "check again."
        )


def run_check(
    check: Check,
    base_url: str,
    *,
    secret_key: str | None = None,
    timeout: float = CHECK_TIMEOUT,
    request_timeout: float = REQUEST_TIMEOUT,
    uds: str | None = None,
    files: StoredFiles | None = None,
    redis_url: str | None = None,
) -> CheckResult:
    """Run one check against ``base_url``; never raises.

    With ``uds``, requests go to the server on that Unix socket (``base_url``
    then only names the host, e.g. ``http://localhost``). ``files`` are
    where the app writes, for the checks that read them (``needs_files``);
    ``redis_url`` the Redis the app uses, for the checks that look into it
    (``needs_redis``).
    """
    result = CheckResult(
        id=check.id,
        chapter=check.chapter,
        task=check.task,
        name=check.name,
        status="passed",
        points=check.points,
        max_points=check.points,
        hint=check.hint,
    )
    if check.is_mutant:
        # Nothing to ask a server: the notebook's own test is what is graded.
        result.status, result.points = "skipped", 0
        result.message = (
            f"graded by running the notebook's `{check.test_function}` "
            "(check() in the notebook, or coursekit grade)"
        )
        return result
    if check.needs_files and files is None:
        result.status, result.points = "skipped", 0
        result.message = (
            "reads the files the app wrote: run it from the notebook (check()) "
            "or coursekit grade"
        )
        return result
    if check.needs_redis and not redis_url:
        result.status, result.points = "skipped", 0
        result.message = (
            "looks into the Redis your app uses: give check() its URL "
            f"(redis_url=..., or set ${REDIS_URL_ENV}), as your app's settings have it"
        )
        return result
    recorder = _Recorder()
    client = _client(base_url, recorder, request_timeout, uds)
    kwargs: dict[str, Any] = (
        {"secret_key": secret_key} if check.needs_secret_key else {}
    )
    if check.needs_files:
        kwargs["files"] = files
    if check.needs_redis:
        kwargs["redis_url"] = redis_url
    if check.needs_websocket:
        kwargs["websocket"] = WebSocketOpener(base_url, uds, request_timeout)
    outcome: list[BaseException | None] = []
    routes: set[str] = set()

    def target() -> None:
        try:
            with track_setup(routes):
                check.func(client, **kwargs)
        except BaseException as exc:  # reported, whatever it is
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            # Here, not after the join: a check abandoned for its time still
            # ends some day, and its sockets must not wait for the collector.
            client.close()

    start = time.perf_counter()
    thread = threading.Thread(target=target, name=f"check-{check.id}", daemon=True)
    thread.start()
    thread.join(timeout)
    result.duration = time.perf_counter() - start
    if thread.is_alive():
        # The thread is abandoned with its client; it ends with its requests.
        request, _ = recorder.describe()
        result.status, result.points = "failed", 0
        result.message = f"the check did not finish within {timeout:g} s"
        result.expected = f"every answer within {timeout:g} s"
        result.got = "still waiting for the server"
        result.request = request
        return result
    exc = outcome[0]
    last_request, last_got = recorder.describe()
    if isinstance(exc, SetupFailed):
        routes.add(exc.route)  # also when raised outside setup_step()
    tasks = setup_tasks(check.chapter)
    unknown = sorted(routes - tasks.keys())
    if unknown:
        # A bug in the contract: its tests run every check against the
        # reference, so a forgotten route cannot get past them.
        result.status, result.points = "error", 0
        result.message = (
            f"the check crashed: its set-up step on {unknown[0]} has no entry in "
            f"chapter {check.chapter}'s SETUP_TASKS (name the task that owns the "
            "route, or GIVEN)"
        )
        result.request, result.got = last_request, last_got
        return result
    if exc is None:
        return result
    result.points = 0
    if isinstance(exc, CheckSkipped):
        result.status = "skipped"
        result.message = str(exc)
        return result
    result.status = "failed"
    if isinstance(exc, CheckFailed):
        result.message = exc.message
        result.expected = exc.expected
        result.got = exc.got or last_got
        result.request = exc.request or last_request
        result.measured = exc.measured
        if isinstance(exc, SetupFailed):
            _blocked(result, exc, tasks[exc.route])
    elif isinstance(exc, httpx.HTTPError):
        result.message, result.got = describe_http_error(exc)
        result.request = last_request
    else:
        result.status = "error"
        result.message = f"the check crashed: {type(exc).__name__}: {exc}"
        result.request = last_request
        result.got = last_got
    return result


def run_checks(
    base_url: str,
    chapter: str | int,
    task: str | None = None,
    *,
    secret_key: str | None = None,
    timeout: float = CHECK_TIMEOUT,
    request_timeout: float = REQUEST_TIMEOUT,
    files: StoredFiles | None = None,
    redis_url: str | None = None,
) -> list[CheckResult]:
    """Run a chapter's checks (or one task's) in order against ``base_url``.

    Mutants (the tasks where the learner writes a test) are left out: they
    are graded by running the notebook's test (``learner_tests``).

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        chapter: ``"02"``, ``2`` or ``"ch02"``.
        task: only the checks of this task.
        secret_key: the server's JWT signing key, for the checks that sign
            tokens themselves; without it they are skipped.
        timeout: seconds each check may take in all.
        request_timeout: seconds each HTTP request may take.
        files: the folders the app writes to, for the checks that read what
            it stored; without them those checks are skipped.
        redis_url: the Redis the app uses, for the checks that look into it;
            without it they are skipped.

    Raises:
        UnknownChapter, UnknownTask: nothing to run (ValueError subclasses).
    """
    # A mutant grades the learner's own test, which no server can show.
    checks = [c for c in checks_for(chapter, task) if not c.is_mutant]
    return [
        run_check(
            check,
            base_url,
            secret_key=secret_key,
            timeout=timeout,
            request_timeout=request_timeout,
            files=files,
            redis_url=redis_url,
        )
        for check in checks
    ]


def probe(base_url: str, timeout: float = 5.0) -> None:
    """Make sure something answers HTTP at ``base_url`` (any status will do).

    Raises:
        ServerUnreachable: with a one-line reason.
    """
    try:
        httpx.get(base_url.rstrip("/") + "/", timeout=timeout)
    except httpx.TimeoutException:
        raise ServerUnreachable(
            f"no answer from {base_url} within {timeout:g} s"
        ) from None
    except httpx.ConnectError:
        raise ServerUnreachable(
            f"cannot connect to {base_url}: is the server running?"
        ) from None
    except (httpx.HTTPError, ValueError) as exc:
        raise ServerUnreachable(f"cannot reach {base_url}: {exc}") from None


_MARKS = {"passed": "✓", "failed": "✗", "error": "✗", "skipped": "-"}


def format_report(results: list[CheckResult], *, title: bool = True) -> str:
    """The human report: a line per check, details under failures, a total.

    Deterministic for a given outcome: no times, ports or random data.
    """
    lines: list[str] = []
    chapters = list(dict.fromkeys(r.chapter for r in results))
    if title and len(chapters) == 1:
        chapter = normalize_chapter(chapters[0])
        lines.append(f"Chapter {chapter}: {CHAPTERS[chapter][0]}")
    for r in results:
        line = f"{_MARKS[r.status]} {r.task} / {r.name}  {r.points}/{r.max_points}"
        if r.status == "skipped":
            line += f"  (skipped: {r.message})"
        lines.append(line)
        if r.status in ("failed", "error"):
            lines.append(f"    problem:  {redact(r.message)}")
            for label, value in (
                ("request", r.request),
                ("expected", r.expected),
                ("got", r.got),
            ):
                if value:
                    lines.append(f"    {label + ':':<9} {redact(value)}")
            lines.append(f"    hint:     {r.hint}")
    blocked = Counter(r.blocked_by for r in results if r.blocked_by)
    if blocked:
        first = ", ".join(
            ("the given code" if task == GIVEN else f"task {task}") + f" ({count})"
            for task, count in blocked.items()
        )
        checks = "check" if blocked.total() == 1 else "checks"
        lines.append(f"set-up failed in {blocked.total()} {checks}: fix {first} first")
    earned = sum(r.points for r in results)
    total = sum(r.max_points for r in results)
    passed = sum(r.passed for r in results)
    lines.append(f"{earned}/{total} points ({passed}/{len(results)} checks passed)")
    return "\n".join(lines)
