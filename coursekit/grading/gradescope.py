"""A graded submission as Gradescope's ``results.json``.

Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/) reads, from
``/autograder/results/results.json``: ``score``, ``execution_time``,
``output``, and ``tests``, each with ``name``, ``number``, ``score``,
``max_score``, ``status`` ("passed" or "failed"), ``output`` and
``visibility``. The instructor's hidden checks (``--hidden``) are
``after_published``: a learner sees them once the grades are published, not
while they can still resubmit against them.

``coursekit grade --out DIR`` writes one such file per submission under
``DIR/gradescope/``, and the autograder (``autograder``) copies its one
submission's file to where Gradescope reads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coursekit.contracts.expect import redact
from coursekit.grading.report import GRADED, Record, _write_atomic, notebook_lines
from coursekit.grading.untrusted import one_line

__all__ = ["HIDDEN_VISIBILITY", "gradescope_results", "write_gradescope_results"]

#: When a learner sees the result of a check the contract does not publish.
HIDDEN_VISIBILITY = "after_published"
VISIBLE = "visible"
#: How the status of a submission the grader failed on begins (``submission``).
GRADER_FAILED = "grading failed"


def _test_output(result: dict[str, Any]) -> str:
    status = result.get("status", "")
    if status == "passed":
        return "passed"
    if status == "skipped":
        return f"skipped: {one_line(redact(result.get('message', '')), 600)}"
    # Messages, requests and responses are the submission's text: one line
    # each (``untrusted``), under the grader's own labels.
    lines = [f"problem:  {one_line(redact(result.get('message', '')), 600)}"]
    for label in ("request", "expected", "got"):
        value = result.get(label, "")
        if value:
            lines.append(f"{label + ':':<9} {one_line(redact(value), 600)}")
    if result.get("blocked_by"):
        lines.append(f"blocked by: task {result['blocked_by']} (fix it first)")
    lines.append(f"hint:     {result.get('hint', '')}")
    return "\n".join(lines)


def _overall_output(record: Record) -> str:
    if record.status == GRADED:
        lines = [f"Graded: {record.total}/{record.max} points."]
    else:
        lines = [f"Not graded: {one_line(record.status, 600)}"]
        if record.status.startswith(GRADER_FAILED):
            lines.append(
                "Every check scores 0. The grader itself failed, which may not "
                "be your notebook's fault: tell your instructor."
            )
        else:
            lines.append(
                "Every check scores 0. Fix what is said above and submit again."
            )
    lines += notebook_lines(record)
    if record.isolation_level and record.isolation_level != "full":
        lines += ["", f"Isolation: {record.isolation_level}"]
    return "\n".join(lines)


def gradescope_results(record: Record) -> dict[str, Any]:
    """``record`` in the shape of Gradescope's ``results.json``.

    Tests are numbered ``task.check`` in the contract's order (Gradescope
    sorts by ``number``); a check the chapter's contract does not publish
    (``record.hidden``) is shown after the grades are published.
    """
    hidden = set(record.hidden)
    tasks: dict[str, int] = {}
    tests: list[dict[str, Any]] = []
    for result in record.results:
        task_number = tasks.setdefault(result["task"], len(tasks) + 1)
        within = sum(1 for t in tests if t["_task"] == result["task"]) + 1
        tests.append(
            {
                "_task": result["task"],
                "name": f"{result['task']} / {result['name']}",
                "number": f"{task_number}.{within}",
                "score": result["points"],
                "max_score": result["max_points"],
                "status": "passed" if result["status"] == "passed" else "failed",
                "output": _test_output(result),
                "visibility": HIDDEN_VISIBILITY if result["id"] in hidden else VISIBLE,
            }
        )
    for test in tests:
        del test["_task"]
    return {
        "score": record.total,
        "execution_time": max(0, round(record.duration)),
        "output": _overall_output(record),
        "output_format": "text",
        "tests": tests,
    }


def write_gradescope_results(record: Record, path: Path) -> None:
    """Write ``record``'s ``results.json`` to ``path`` (atomically)."""
    text = json.dumps(gradescope_results(record), indent=1, ensure_ascii=False)
    _write_atomic(path, text + "\n")
