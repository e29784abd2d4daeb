"""``check("02")``: run a chapter's contract against the notebook's ``app``.

The checks run in a separate Python process that talks to the app over HTTP,
the way a grader would: code in the notebook can change what the app does,
but not what the checker expects.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from coursekit.contracts.learner_tests import run_here
from coursekit.contracts.registry import checks_for
from coursekit.contracts.runner import (
    REDIS_URL_ENV,
    SECRET_KEY_ENV,
    CheckResult,
    format_report,
)
from coursekit.errors import CourseError
from coursekit.serve import LiveServer, running_servers, serve

__all__ = ["CheckError", "CheckReport", "check"]

#: Seconds the whole run may take; the slowest chapter needs about 10.
RUN_TIMEOUT = 300.0
#: Set by the grader: it runs the contract itself, from outside the kernel,
#: so the notebook's own check() cells do nothing.
GRADING_ENV = "COURSEKIT_GRADING"


class CheckError(CourseError):
    """The checks could not run; the message says why and what to do."""


@dataclass
class CheckReport:
    """What ``check()`` found; shows as the report in a notebook."""

    chapter: str
    task: str | None
    results: list[CheckResult]
    notes: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.results)

    @property
    def passed(self) -> bool:
        """True when no check failed (skipped checks do not count against)."""
        return all(r.status in ("passed", "skipped") for r in self.results)

    def __str__(self) -> str:
        return "\n".join([*self.notes, format_report(self.results)])

    def __repr__(self) -> str:
        return str(self)


def _namespace() -> dict[str, Any]:
    """The notebook's variables (empty outside a kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def _learner_app() -> Any:
    app = _namespace().get("app")
    if app is None:
        raise CheckError(
            "There is no `app` to check yet. Run the cells that create it "
            "(app = FastAPI() and its routes) first, or pass one: "
            "check(..., app=my_app)."
        )
    return app


def _server_for(app: Any) -> tuple[LiveServer, list[str], bool]:
    """A server for ``app``, notes for the learner, and whether we started it."""
    notes: list[str] = []
    for server in running_servers():
        if server.running and server.app is app:
            return server, notes, False
    for server in running_servers():
        if server.running and server.name == "app":
            notes.append(
                "Note: your running server still serves an older `app`: you "
                "changed `app` after starting it. The checks use the current one; "
                "re-run the cell with `server = serve(app)` to see your changes "
                "in the browser and in your requests too."
            )
    return serve(app, name="coursekit-check", show=False), notes, True


def _run_contract(
    url: str,
    chapter: str,
    task: str | None,
    secret_key: str | None,
    timeout: float,
    redis_url: str | None = None,
) -> list[CheckResult]:
    command = [sys.executable, "-m", "coursekit.contracts", chapter, "--url", url]
    command += ["--json"] + (["--task", task] if task else [])
    # Where a notebook's app keeps its files (a SQLite database): the
    # working folder and the temporary one.
    for folder in dict.fromkeys([os.getcwd(), tempfile.gettempdir()]):
        command += ["--files", folder]
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    if secret_key is not None:
        env[SECRET_KEY_ENV] = secret_key
    if redis_url is not None:
        env[REDIS_URL_ENV] = redis_url
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise CheckError(
            f"The checks did not finish within {timeout:g} s: some request to your "
            "app never got an answer. Look for an endpoint that waits forever."
        ) from None
    if done.returncode == 2:
        raise CheckError(done.stderr.strip().removeprefix("error: "))
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        missing = re.search(r"No module named '([\w.]+)'", done.stderr)
        if missing:
            package = missing[1].split(".")[0]
            raise CheckError(
                f"The checker needs the package `{package}`, which the Python "
                f"running this notebook ({sys.executable}) does not have. Open "
                "the notebook with the course's kernel (`make lab` sets it up), "
                "or install the course into this Python: pip install -e . in "
                "the course folder."
            ) from None
        raise CheckError(
            "The checker stopped unexpectedly:\n" + (done.stderr or done.stdout)[-2000:]
        ) from None
    return [CheckResult(**r) for r in report["results"]]


def check(
    chapter: str | int,
    task: str | None = None,
    *,
    app: Any = None,
    secret_key: str | None = None,
    redis_url: str | None = None,
    timeout: float = RUN_TIMEOUT,
    own_tests: bool = True,
    tests: Mapping[str, Any] | None = None,
) -> CheckReport:
    """Check the notebook's ``app`` against chapter ``chapter``'s contract.

    Args:
        chapter: ``"02"`` or ``2``.
        task: only this task's checks (see ``coursekit contract NN --list``).
        app: the app to check; by default the notebook's variable ``app``.
        secret_key: the key your app signs tokens with (chapter 05), so the
            checks can sign an expired token of their own.
        redis_url: the Redis your app uses (chapter 07), so the checks can
            look into it; by default ``$REDIS_URL``, as the settings read it.
        timeout: seconds the whole run may take.
        own_tests: also grade the tests the chapter's exercise asks you to
            write (``test_docs``, ...), found among the notebook's variables.
            A lesson, which writes none, passes ``own_tests=False``.
        tests: where to find those test functions, by name (default: the
            notebook's variables).

    Returns:
        A report that shows, in a notebook, one line per check with the
        request, what was expected and what came back for each failure.
    """
    try:
        checks = checks_for(chapter, task)
    except ValueError as exc:
        raise CheckError(str(exc)) from None
    chapter_id = checks[0].chapter
    if not own_tests:
        checks = [c for c in checks if not c.is_mutant]
        if not checks:
            raise CheckError(
                f"task {task!r} is a test you write: check it with own_tests=True"
            )
    if os.environ.get(GRADING_ENV):
        note = "check() does nothing while the notebook is being graded."
        return CheckReport(chapter=chapter_id, task=task, results=[], notes=[note])
    notes: list[str] = []
    results: list[CheckResult] = []
    if any(not c.is_mutant for c in checks):
        target = _learner_app() if app is None else app
        server, notes, started = _server_for(target)
        try:
            results = _run_contract(
                server.url, chapter_id, task, secret_key, timeout, redis_url
            )
        finally:
            if started:
                server.stop()
        wanted = {c.id for c in checks}
        results = [r for r in results if r.id in wanted]
    if any(c.is_mutant for c in checks):
        # The learner's own tests, run here against the reference and its
        # mutants (the grader runs them in a sandbox, with the same verdicts).
        found = {
            r.id: r
            for r in [
                *results,
                *run_here(checks, _namespace() if tests is None else tests, chapter_id),
            ]
        }
        results = [found[c.id] for c in checks if c.id in found]
    return CheckReport(chapter=chapter_id, task=task, results=results, notes=notes)
