"""check(): a chapter's contract against an app, run from another process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nbformat
import pytest
from fastapi import FastAPI
from nbclient import NotebookClient

from course_app.config import Settings
from course_app.main import create_app
from coursekit.check import CheckError, check
from coursekit.contracts.registry import checks_for
from coursekit.serve import running_servers, serve

KEY = "check-tests-signing-key-0123456789abcdef"


ROUTES_02 = [c for c in checks_for("02") if not c.is_mutant]


def test_a_correct_app_passes_every_check_and_no_server_is_left_behind() -> None:
    report = check("02", app=create_app(upto=2), own_tests=False)
    assert report.passed
    points, count = sum(c.points for c in ROUTES_02), len(ROUTES_02)
    assert (report.points, report.max_points) == (points, points)
    text = repr(report)
    assert text.startswith("Chapter 02: CRUD: users\n✓ create_user / create_user_201")
    assert text.endswith(f"{points}/{points} points ({count}/{count} checks passed)")
    assert not [s for s in running_servers() if s.name == "coursekit-check"]


def _test_docs(client: Any) -> None:
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")


def test_the_learner_s_own_tests_are_run_against_the_reference_and_its_mutants() -> (
    None
):
    # Only the pages: it catches the two mutants without a page, no other.
    report = check("01", "docs", tests={"test_docs": _test_docs})
    caught = {r.name for r in report.results if r.passed}
    assert caught == {"no_swagger_ui", "no_redoc"}
    missed = [r for r in report.results if not r.passed]
    assert all("`test_docs` passes against an app where" in r.message for r in missed)
    # A test that fails on the reference earns nothing, and says why.
    report = check("01", "docs", tests={"test_docs": lambda client: 1 / 0})
    assert report.points == 0
    assert "fails against a correct app" in report.results[0].message
    assert "ZeroDivisionError" in report.results[0].got
    # No test at all: the same, with what to write.
    report = check("01", "docs", tests={})
    assert report.points == 0
    assert report.results[0].message == "no function `test_docs` in the notebook"


def test_a_wrong_app_gets_request_expected_got_and_hint() -> None:
    report = check(1, "read_item", app=FastAPI())
    assert not report.passed
    assert report.points == 0 < report.max_points
    text = str(report)
    for label in (
        "problem:",
        "request:  GET /items/",
        "expected:",
        "got:      404",
        "hint:",
    ):
        assert label in text


def test_an_app_already_served_is_checked_through_its_own_server() -> None:
    app = create_app(upto=1)
    with serve(app, name="already", show=False) as server:
        report = check("01", "root", app=app)
        assert report.passed and server.running
        assert report.notes == []


def test_a_stale_server_named_app_is_pointed_out() -> None:
    with serve(create_app(upto=1), show=False):  # the learner's first version
        report = check("01", "root", app=create_app(upto=1))  # edited since
    assert report.passed
    assert "still serves an older `app`" in report.notes[0]
    assert str(report).startswith("Note: your running server")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("12",),
            "unknown chapter '12' (known: 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11)",
        ),
        (("02", "nope"), "chapter 02 has no task 'nope' (known: create_user, "),
    ],
)
def test_unknown_chapters_and_tasks_are_clear_errors(args, message) -> None:
    with pytest.raises(
        CheckError, match="^" + message.replace("(", r"\(").replace(")", r"\)")
    ):
        check(*args, app=FastAPI())


def test_the_secret_key_reaches_the_checker_so_no_check_is_skipped() -> None:
    app = create_app(
        upto=5, settings=Settings(secret_key=KEY, database_url="sqlite://")
    )
    task = "reject_bad_tokens"
    without = check("05", task, app=app)
    with_key = check("05", task, app=app, secret_key=KEY)
    assert any(r.status == "skipped" for r in without.results)
    assert with_key.passed
    assert all(r.status == "passed" for r in with_key.results)


def test_a_server_that_never_answers_ends_in_a_clear_error() -> None:
    app = FastAPI()

    @app.get("/")
    async def hang() -> None:
        await asyncio.sleep(60)

    with pytest.raises(CheckError, match="did not finish within 3 s"):
        check("01", "root", app=app, timeout=3)


# -- in a real kernel, as a learner uses it -------------------------------


def run_in_kernel(*sources: str) -> list[nbformat.NotebookNode]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True)
    client.execute()
    return nb.cells


def test_check_before_app_exists_says_what_to_do_in_one_line() -> None:
    [cell] = run_in_kernel("from coursekit import check\ncheck('01')")
    [error] = cell.outputs
    assert error.ename == "CheckError"
    assert error.traceback == [
        "CheckError: There is no `app` to check yet. Run the cells that create it "
        "(app = FastAPI() and its routes) first, or pass one: check(..., app=my_app)."
    ]


def test_the_notebooks_app_is_found_and_code_in_the_kernel_cannot_fake_a_pass() -> None:
    cells = run_in_kernel(
        "from fastapi import FastAPI\nfrom coursekit import check\n"
        "app = FastAPI()\n"
        "@app.get('/')\ndef root():\n    return {'message': 'wrong'}",
        # A learner (or a cheat) patches the checker inside the kernel.
        "import coursekit.contracts.runner as r\n"
        "real = r.run_check\n"
        "def always_pass(check, *a, **k):\n"
        "    result = real(check, *a, **k)\n"
        "    result.status, result.points = 'passed', result.max_points\n"
        "    return result\n"
        "r.run_check = always_pass\n"
        "report = check('01', 'root')\n"
        "print(report)",
    )
    text = json.dumps(cells[1].outputs, ensure_ascii=False)
    assert "✗ root / root_message  0/" in text
    assert "Hello, FastAPI" in text  # the expected value is shown


def test_while_grading_check_does_nothing(monkeypatch) -> None:
    monkeypatch.setenv("COURSEKIT_GRADING", "1")
    report = check("02", app=FastAPI())
    assert report.results == [] and report.passed
    assert str(report).startswith(
        "check() does nothing while the notebook is being graded."
    )
