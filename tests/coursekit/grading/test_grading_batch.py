"""`coursekit grade` on one batch of good, partial and broken submissions.

Kernels cost about a second each, so the whole batch runs once (two at a
time, which also tests --jobs 2) and each test reads its row. The attacks on
the sandbox are in test_attacks.py.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from grading_support import (
    CH01_TASKS,
    GOOD,
    ITEMS_ROUTE,
    ROOT_ROUTE,
    read_csv,
    read_results,
)
from grading_support import write_notebook as nb

from coursekit.contracts.registry import checks_for
from coursekit.grading.cli import main

# A module fixture grades a whole batch in sandboxed kernels, several
# minutes on a machine that runs two test suites: the limit catches a hang.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FOREVER = """\
import time
while True:  # swallows the interrupt nbclient sends on a timeout
    try:
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
"""

TAMPER = """\
import sys

import coursekit

class _Fake:
    port = 1  # nothing of the kernel's listens there

sys.modules["coursekit.serve"].serve = lambda *args, **kwargs: _Fake()
"""


#: The kernel runs with COURSEKIT_GRADING set, in an empty folder of its own.
ENVIRONMENT = """\
import os
assert os.environ.get("COURSEKIT_GRADING") == "1", "not grading"
assert os.listdir() == [], os.listdir()
"""

PATCH_CHECKS = """\
import coursekit.contracts.ch01_hello as ch01
import coursekit.contracts.runner as runner

runner.run_check = lambda check, *args, **kwargs: None
for name in dir(ch01):
    if name.endswith("422") or name.startswith("item"):
        setattr(ch01, name, lambda client: None)
"""


#: Any one cell gets 3 s: the endless cells stop there. The notebook's own
#: total is far above what the others need, even on a busy machine.
LIMITS = ["--timeout", "60", "--cell-timeout", "3"]


def _make(subs: Path) -> None:
    nb(
        subs / "01_good.ipynb",
        *GOOD,
        ENVIRONMENT,
        "from coursekit import check\ncheck('01')",
    )
    nb(subs / "01_no_items.ipynb", ROOT_ROUTE)
    nb(subs / "01_wrong_root.ipynb", ROOT_ROUTE.replace("Hello,", "Hi,"), ITEMS_ROUTE)
    (subs / "01_not_json.ipynb").write_text("print('hello')\n", encoding="utf-8")
    (subs / "01_not_notebook.ipynb").write_text('{"cells": 3}', encoding="utf-8")
    nb(subs / "01_forever.ipynb", *GOOD, FOREVER)
    nb(subs / "01_exits.ipynb", *GOOD, "import os\nos._exit(3)")
    nb(subs / "01_loud.ipynb", "print('x' * 3_000_000)", *GOOD)
    nb(subs / "01_no_app.ipynb", "x = 1")
    nb(
        subs / "01_uvicorn.ipynb",
        *GOOD,
        "import uvicorn\nuvicorn.run(app, port=0)",
        "undefined_name",
    )
    nb(subs / "01_tamper.ipynb", ROOT_ROUTE, TAMPER)
    nb(subs / "01_patch_checks.ipynb", ROOT_ROUTE, PATCH_CHECKS)
    nb(subs / "nested" / "01_no_items.ipynb", ROOT_ROUTE, "1/0")


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("batch")
    _make(root / "subs")
    out = root / "out"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main([str(root / "subs"), "--out", str(out), "--jobs", "2", *LIMITS])
    header, rows = read_csv(out)
    return {
        "status": status,
        "out": out,
        "stderr": stderr.getvalue(),
        "header": header,
        "rows": rows,
        "results": read_results(out),
    }


def points(row: dict[str, str]) -> list[int]:
    return [int(row[c]) for c in [*CH01_TASKS, "total", "max"]]


def _full_marks() -> list[int]:
    # Computed from the contract, which may gain or re-weigh checks.
    by_task = dict.fromkeys(CH01_TASKS, 0)
    for check in checks_for("01"):
        by_task[check.task] += check.points
    total = sum(by_task.values())
    return [*by_task.values(), total, total]


FULL = _full_marks()
MAX = FULL[-1]
NOTHING = [0, 0, 0, 0, 0, MAX]


def test_the_csv_has_exactly_the_specified_columns(batch: dict[str, Any]) -> None:
    assert batch["status"] == 0, batch["stderr"]
    header = ["submission", "status", *CH01_TASKS, "total", "max", "isolation"]
    assert batch["header"] == header
    assert len(batch["rows"]) == 13
    assert {row["isolation"] for row in batch["rows"].values()} == {"full"}


def test_a_correct_submission_scores_full_marks(batch: dict[str, Any]) -> None:
    row = batch["rows"]["01_good.ipynb"]
    assert row["status"] == "graded"
    assert points(row) == FULL
    # Its kernel knew it was being graded (so check() did nothing) and
    # started in an empty folder: no cell failed.
    assert batch["results"]["01_good.ipynb"]["cell_errors"] == []


def test_a_wrong_answer_costs_exactly_its_checks(batch: dict[str, Any]) -> None:
    row = batch["rows"]["01_wrong_root.ipynb"]
    assert row["status"] == "graded"
    root = FULL[0]
    assert points(row) == [0, *FULL[1:4], MAX - root, MAX]


def test_a_missing_route_costs_its_tasks(batch: dict[str, Any]) -> None:
    row = batch["rows"]["01_no_items.ipynb"]
    assert row["status"] == "graded"
    assert points(row)[:3] == [FULL[0], 0, 0]
    assert int(row["total"]) == FULL[0] + int(row["docs"]) < MAX
    nested = batch["rows"]["nested/01_no_items.ipynb"]
    assert points(nested) == points(row)
    errors = batch["results"]["nested/01_no_items.ipynb"]["cell_errors"]
    assert errors == ['cell 3 raised ZeroDivisionError: "division by zero"']


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("01_not_json.ipynb", "not JSON: Expecting value: line 1 column 1 (char 0)"),
        ("01_not_notebook.ipynb", "not a notebook: "),
        ("01_no_app.ipynb", "no `app` defined"),
        ("01_tamper.ipynb", "the app did not start: nothing answers on its socket"),
    ],
)
def test_a_broken_submission_is_a_row_with_its_reason(
    batch: dict[str, Any], name: str, status: str
) -> None:
    row = batch["rows"][name]
    assert row["status"].startswith(status)
    assert points(row) == NOTHING
    feedback = (batch["out"] / "feedback" / name.replace(".ipynb", ".txt")).read_text()
    assert f"Status: not graded: {row['status']}" in feedback
    assert f"0/{MAX} points" in feedback


@pytest.mark.parametrize(
    ("name", "error"),
    [
        # Swallows every KeyboardInterrupt: the kernel is replaced.
        ("01_forever.ipynb", "cell 4 ran longer than 3 s, the limit per cell, and "),
        ("01_exits.ipynb", "cell 4: the kernel exited with status 3"),
    ],
)
def test_a_cell_that_hangs_or_kills_its_kernel_costs_only_itself(
    batch: dict[str, Any], name: str, error: str
) -> None:
    # The cells before it run again in a fresh kernel, and the tasks they
    # built are graded.
    row = batch["rows"][name]
    assert row["status"] == "graded"
    assert points(row) == FULL
    result = batch["results"][name]
    [cell_error] = result["cell_errors"]
    assert cell_error.startswith(error)
    assert any(
        "ran cells before it again in a fresh kernel" in n for n in result["notes"]
    )


def test_errors_in_cells_do_not_stop_the_grading(batch: dict[str, Any]) -> None:
    # uvicorn.run() fails in a kernel (its loop is running), and a later
    # cell fails too: both are errors in cells, the app is still graded.
    row = batch["rows"]["01_uvicorn.ipynb"]
    assert row["status"] == "graded"
    assert points(row) == FULL
    errors = batch["results"]["01_uvicorn.ipynb"]["cell_errors"]
    assert [e.split(" raised")[0] for e in errors] == ["cell 4", "cell 5"]
    assert "NameError" in errors[1]


def test_megabytes_of_output_are_cut_and_graded(batch: dict[str, Any]) -> None:
    assert points(batch["rows"]["01_loud.ipynb"]) == FULL
    [note] = batch["results"]["01_loud.ipynb"]["notes"]
    assert note.startswith("cell 2: output beyond 100000 characters was dropped")
    assert batch["results"]["01_good.ipynb"]["notes"] == []


def test_feedback_and_progress(batch: dict[str, Any]) -> None:
    feedback = (batch["out"] / "feedback" / "01_wrong_root.txt").read_text()
    assert feedback.startswith("Submission: 01_wrong_root.ipynb\nStatus: graded\n")
    assert "✗ root / root_message  0/1" in feedback
    assert f"{MAX - FULL[0]}/{MAX} points" in feedback
    assert (batch["out"] / "feedback" / "nested" / "01_no_items.txt").exists()
    lines = [line for line in batch["stderr"].splitlines() if line.startswith("[")]
    assert len(lines) == len(batch["rows"])
    assert f"01_good.ipynb: graded {MAX}/{MAX}" in batch["stderr"]
    result = batch["results"]["01_no_items.ipynb"]["results"][1]
    assert result["status"] == "failed" and result["request"] == "GET /items/42"


def test_tampering_inside_the_kernel_changes_nothing(batch: dict[str, Any]) -> None:
    # The checks run in the grading process: patching them in the kernel
    # (the contract's runner, the checks themselves) does not help.
    row = batch["rows"]["01_patch_checks.ipynb"]
    assert row["status"] == "graded"
    assert points(row) == points(batch["rows"]["01_no_items.ipynb"])


def test_every_run_writes_the_class_report_and_the_exports(
    batch: dict[str, Any],
) -> None:
    out = batch["out"]
    report = (out / "report.html").read_text(encoding="utf-8")
    for section in ("histogram", "tasks", "failures", "not-graded", "isolation"):
        assert f'id="{section}"' in report
    assert "01_not_json.ipynb" in report  # a row not graded, with its reason
    assert (
        (out / "similarity.csv")
        .read_text()
        .startswith("first,second,kind,similarity\n")
    )
    names = sorted(
        str(p.relative_to(out / "gradescope").with_suffix(".ipynb"))
        for p in (out / "gradescope").rglob("*.json")
    )
    assert names == sorted(batch["rows"])
    good = json.loads((out / "gradescope" / "01_good.json").read_text())
    assert good["score"] == MAX == sum(t["max_score"] for t in good["tests"])
    assert f"class report: {out / 'report.html'}" in batch["stderr"]
