"""Re-running `coursekit grade`: skips what is graded, unless changed or --force;
hidden checks count with the contract."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from grading_support import CH01_TASKS, GOOD, read_csv, read_results, write_notebook

from coursekit.contracts.registry import checks_for
from coursekit.grading.cli import main

pytestmark = pytest.mark.slow

HIDDEN = """\
import httpx

from coursekit.contracts.expect import expect_status
from coursekit.contracts.registry import check


@check(task="hidden", points=1, hint="GET / answers.")
def root_still_answers(client: httpx.Client) -> None:
    expect_status(client.get("/"), 200)


@check(task="hidden", points=2, hint="Add GET /secret.")
def secret_route(client: httpx.Client) -> None:
    expect_status(client.get("/secret"), 200)
"""

#: The contract's points (it may gain checks), plus the hidden 3.
MAX = sum(check.points for check in checks_for("01")) + 3

SECRET_ROUTE = """\
@app.get("/secret")
def secret():
    return {"secret": True}
"""


def grade(tmp_path: Path, *extra: str) -> str:
    stderr = io.StringIO()
    args = [str(tmp_path / "subs"), "--out", str(tmp_path / "out")]
    args += ["--hidden", str(tmp_path / "hidden"), *extra]
    with contextlib.redirect_stderr(stderr):
        assert main(args) == 0, stderr.getvalue()
    return stderr.getvalue()


def test_a_rerun_skips_what_is_graded_and_redoes_what_changed(tmp_path: Path) -> None:
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "extra.py").write_text(HIDDEN, encoding="utf-8")
    good = write_notebook(tmp_path / "subs" / "01_good.ipynb", *GOOD)
    (tmp_path / "subs" / "01_broken.ipynb").write_text("{", encoding="utf-8")

    first = grade(tmp_path)
    assert "[2/2]" in first
    header, rows = read_csv(tmp_path / "out")
    assert header == [
        "submission",
        "status",
        *CH01_TASKS,
        "hidden",
        "total",
        "max",
        "isolation",
    ]
    assert rows["01_good.ipynb"]["hidden"] == "1"
    good_row = rows["01_good.ipynb"]
    assert (good_row["total"], good_row["max"]) == (str(MAX - 2), str(MAX))
    graded_at = read_results(tmp_path / "out")["01_good.ipynb"]["duration"]
    # The hidden checks stay out of this process's registry.
    assert sum(c.points for c in checks_for("01")) == MAX - 3

    second = grade(tmp_path)
    assert "skipping 1 already graded" in second
    assert "[1/1] 01_broken.ipynb: not JSON" in second
    results = read_results(tmp_path / "out")
    assert results["01_good.ipynb"]["duration"] == graded_at
    assert set(results) == {"01_good.ipynb", "01_broken.ipynb"}

    write_notebook(good, *GOOD, SECRET_ROUTE)  # new content: graded again
    third = grade(tmp_path)
    assert f"01_good.ipynb: graded {MAX}/{MAX}" in third
    assert read_csv(tmp_path / "out")[1]["01_good.ipynb"]["hidden"] == "3"

    forced = grade(tmp_path, "--force")
    assert f"01_good.ipynb: graded {MAX}/{MAX}" in forced
    assert "skipping" not in forced


def test_a_hidden_check_may_not_replace_a_contract_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hidden").mkdir()
    clash = HIDDEN.replace("def secret_route", "def root_message")
    (tmp_path / "hidden" / "extra.py").write_text(clash, encoding="utf-8")
    write_notebook(tmp_path / "subs" / "01_good.ipynb", *GOOD)
    out, hidden = str(tmp_path / "out"), str(tmp_path / "hidden")
    status = main([str(tmp_path / "subs"), "--hidden", hidden, "--out", out])
    assert status == 2
    assert "root_message" in capsys.readouterr().err
    first = checks_for("01")[0]
    assert first.name == "root_message"
    assert first.func.__module__ == "coursekit.contracts.ch01_hello"


def test_the_chapter_must_be_known(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_notebook(tmp_path / "alice.ipynb", *GOOD)
    assert main([str(tmp_path / "alice.ipynb"), "--out", str(tmp_path)]) == 2
    assert "pass --chapter NN" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "grades.csv").exists()


def test_a_rerun_grades_again_what_other_limits_or_checks_would_grade_differently(
    tmp_path: Path,
) -> None:
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "extra.py").write_text(HIDDEN, encoding="utf-8")
    write_notebook(tmp_path / "subs" / "01_good.ipynb", *GOOD)
    grade(tmp_path)
    assert "skipping 1 already graded" in grade(tmp_path)
    # Other limits: the row is made again.
    assert "skipping" not in grade(tmp_path, "--cell-timeout", "50")
    assert "skipping 1 already graded" in grade(tmp_path, "--cell-timeout", "50")
    # Changed hidden checks: again.
    (tmp_path / "hidden" / "extra.py").write_text(
        HIDDEN.replace("GET / answers.", "GET / still answers."), encoding="utf-8"
    )
    assert "skipping" not in grade(tmp_path, "--cell-timeout", "50")


SLOW = "import time\ntime.sleep(60)"


def _kill_while_grading(tmp_path: Path, name: str) -> None:
    """Start the grader, and SIGKILL it once it has begun grading ``name``."""
    out = tmp_path / "out"
    entry = "import sys; from coursekit.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", entry, "grade", str(tmp_path / "subs")]
    command += ["--out", str(out), "--cell-timeout", "90", "--timeout", "120"]
    grader = subprocess.Popen(
        command, start_new_session=True, stderr=subprocess.DEVNULL
    )
    before = _attempts(out)
    try:
        deadline = time.monotonic() + 120
        while _attempts(out) == before:
            assert grader.poll() is None, "the grader ended before it was killed"
            assert time.monotonic() < deadline, "the grader never began"
            time.sleep(0.1)
        time.sleep(1)  # into the notebook's cells
    finally:
        os.killpg(grader.pid, signal.SIGKILL)
        grader.wait()
    # Begun, never finished: no row for it.
    assert (out / "attempts.json").exists()
    results = out / "results.json"
    assert not results.exists() or name not in read_results(out)


def _attempts(out: Path) -> int:
    """How many runs began the one submission and never finished it."""
    try:
        counts = json.loads((out / "attempts.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return sum(counts.values())


def test_a_notebook_that_stopped_the_grader_twice_becomes_a_row(tmp_path: Path) -> None:
    write_notebook(tmp_path / "subs" / "01_stops_the_grader.ipynb", *GOOD, SLOW)
    for _ in range(2):
        _kill_while_grading(tmp_path, "01_stops_the_grader.ipynb")
    third = grade_quietly(tmp_path)
    assert "crashed the grader: the grader stopped 2 times while grading it" in third
    row = read_csv(tmp_path / "out")[1]["01_stops_the_grader.ipynb"]
    assert row["status"].startswith("crashed the grader")
    assert row["total"] == "0"
    # Resumed runs keep the row, without trying again...
    assert "skipping 1 already graded" in grade_quietly(tmp_path)
    # ...unless told to: then it is graded (its slow cell interrupted).
    forced = grade_quietly(tmp_path, "--force", "--cell-timeout", "2")
    assert "01_stops_the_grader.ipynb: graded" in forced
    assert not (tmp_path / "out" / "attempts.json").exists()


def grade_quietly(tmp_path: Path, *extra: str) -> str:
    stderr = io.StringIO()
    args = [str(tmp_path / "subs"), "--out", str(tmp_path / "out"), *extra]
    with contextlib.redirect_stderr(stderr):
        assert main(args) == 0, stderr.getvalue()
    return stderr.getvalue()
