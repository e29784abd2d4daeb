"""``coursekit grade --roster``: the gradebook, Canvas's and Moodle's import files.

The formats checked are the documented ones:
- Canvas, "How do I import grades in the Gradebook?": a CSV in the shape of
  a Canvas gradebook export, ``Student, ID, SIS User ID, SIS Login ID,
  Section`` then one column per assignment, an optional ``Points Possible``
  row under the header; learners matched by ID, SIS User ID or SIS Login
  ID; a blank cell leaves the grade as it is.
- Moodle, "Import grades" (CSV file): a header row, one column that
  identifies the user (mapped at import to the ID number field), one per
  grade item holding a number or nothing, and optionally a feedback column.
"""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path
from typing import Any

import pytest
from grading_support import CH01_TASKS, GOOD, ROOT_ROUTE, write_notebook

from coursekit.contracts.registry import checks_for
from coursekit.grading.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MAX = sum(check.points for check in checks_for("01"))
ROSTER = """\
student_id,name,submission
s1,Ada Lovelace,alice/01_hello.ipynb
s2,"Hopper, Grace",01_grace.ipynb
s3,Alan Turing,
s4,=HYPERLINK(evil),01_broken.ipynb
s5,Katherine Johnson,katherine.ipynb
"""


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("roster")
    subs = root / "subs"
    write_notebook(subs / "alice" / "01_hello.ipynb", *GOOD)
    write_notebook(subs / "01_grace.ipynb", ROOT_ROUTE)
    (subs / "01_broken.ipynb").write_text("{", encoding="utf-8")
    write_notebook(subs / "01_stranger.ipynb", ROOT_ROUTE)
    (root / "class.csv").write_text(ROSTER, encoding="utf-8")
    out = root / "out"
    stderr = io.StringIO()
    args = [str(subs), "--out", str(out), "--roster", str(root / "class.csv")]
    with contextlib.redirect_stderr(stderr):
        status = main([*args, "--timeout", "60"])
    assert status == 0, stderr.getvalue()
    return {"out": out, "stderr": stderr.getvalue()}


def test_the_gradebook_has_every_learner_and_every_submission(
    graded: dict[str, Any],
) -> None:
    rows = _rows(graded["out"] / "gradebook.csv")
    header = ["student_id", "name", "submission", "status", *CH01_TASKS]
    assert rows[0] == [*header, "total", "max"]
    by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_id["s1"]["status"] == "graded" and by_id["s1"]["total"] == str(MAX)
    assert by_id["s2"]["name"] == "Hopper, Grace"
    assert 0 < int(by_id["s2"]["total"]) < MAX
    assert by_id["s3"]["status"] == "missing" and by_id["s3"]["total"] == ""
    assert by_id["s4"]["name"] == "'=HYPERLINK(evil)"  # text, not a formula
    assert by_id["s4"]["status"].startswith("not JSON")  # why it was not graded
    assert by_id["s5"]["status"] == "missing"
    (stranger,) = [row for row in rows[1:] if row[0] == ""]
    assert stranger[2] == "01_stranger.ipynb"
    assert stranger[3].startswith("not in the roster; graded")
    assert (
        "gradebook: 5 learners in the roster, 3 with a submission, 2 missing; "
        "1 submissions in no roster row: 01_stranger.ipynb" in graded["stderr"]
    )


def test_canvas_gets_its_import_format(graded: dict[str, Any]) -> None:
    rows = _rows(graded["out"] / "canvas.csv")
    columns = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[0] == [*columns, "Chapter 01: hello world"]
    assert rows[1] == ["Points Possible", "", "", "", "", str(MAX)]
    body = {row[2]: row for row in rows[2:]}
    assert list(body) == ["s1", "s2", "s3", "s4", "s5"]  # the roster's order
    assert all(len(row) == 6 for row in rows)
    assert body["s1"] == ["Ada Lovelace", "", "s1", "", "", str(MAX)]
    assert body["s3"][5] == "" and body["s5"][5] == ""  # missing: left as it is
    assert body["s4"][5] == "0"  # a notebook that does not run earns nothing
    for row in rows[2:]:
        assert row[5] == "" or 0 <= float(row[5]) <= MAX


def test_moodle_gets_an_id_a_grade_and_feedback(graded: dict[str, Any]) -> None:
    rows = _rows(graded["out"] / "moodle.csv")
    assert rows[0] == ["ID number", "Full name", "Chapter 01: hello world", "Feedback"]
    body = {row[0]: row for row in rows[1:]}
    assert body["s1"][2:] == [str(MAX), f"graded: {MAX}/{MAX}"]
    assert body["s3"][2:] == ["", "missing: no submission"]
    assert body["s5"][2:] == [
        "",
        "missing: katherine.ipynb was not among the submissions",
    ]
    assert body["s4"][3].startswith("not JSON")


def test_a_bad_roster_stops_the_run_before_any_grading(tmp_path: Path) -> None:
    write_notebook(tmp_path / "subs" / "01_a.ipynb", ROOT_ROUTE)
    (tmp_path / "class.csv").write_text("id,name\ns1,Ada\n", encoding="utf-8")
    stderr = io.StringIO()
    args = [str(tmp_path / "subs"), "--out", str(tmp_path / "out")]
    with contextlib.redirect_stderr(stderr):
        status = main([*args, "--roster", str(tmp_path / "class.csv")])
    assert status == 2
    assert "has no submission column" in stderr.getvalue()
    assert not (tmp_path / "out" / "grades.csv").exists()
