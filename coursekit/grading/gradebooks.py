"""Grades by learner, for the LMS: ``gradebook.csv``, ``canvas.csv``, ``moodle.csv``.

Written with ``--roster`` (``roster``), rewritten with the other files after
each submission. Every learner of the roster has a row in each file; one
who handed nothing in is ``missing``.

- ``gradebook.csv``: student id, name, submission, status, each task's
  points, total, max: the whole picture, including submissions that are in
  no roster row (their id is empty).
- ``canvas.csv``: Canvas's gradebook import (Grades > Import): the columns
  of a Canvas gradebook export, ``Student, ID, SIS User ID, SIS Login ID,
  Section``, then the assignment, with the ``Points Possible`` row Canvas
  writes under the header. The roster's id goes in ``SIS User ID``, which
  Canvas matches learners by. A blank score changes nothing in Canvas (a
  missing submission stays missing there, and Canvas's missing-submission
  policy applies).
- ``moodle.csv``: Moodle's "Import grades from CSV file": a column to
  identify the learner (map ``ID number`` to the user field "ID number"),
  the grade (map it to the grade item) and ``Feedback`` (map it to the
  item's feedback), which says why a learner has no grade.

A submission the grader itself failed on (``crashed the grader``,
``grading failed``) gets no score in the LMS files, only in
``gradebook.csv``: it is for the instructor to look at, not a 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from coursekit.grading.report import CRASHED, GRADED, Record, _write_atomic
from coursekit.grading.roster import Student
from coursekit.grading.untrusted import csv_cell

__all__ = ["CANVAS", "GRADEBOOK", "MISSING", "MOODLE", "write_gradebooks"]

GRADEBOOK = "gradebook.csv"
CANVAS = "canvas.csv"
MOODLE = "moodle.csv"
#: The status of a learner in the roster with no graded submission.
MISSING = "missing"
_GRADER_FAILED = (CRASHED, "grading failed")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["ID number", "Full name"]


def _csv(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _score(record: Record | None) -> str:
    """The LMS score: the total, or blank when there is none to give."""
    if record is None or record.status.startswith(_GRADER_FAILED):
        return ""
    return str(record.total)


def _why(record: Record | None, student: Student) -> str:
    if record is None:
        if student.submission:
            return f"{MISSING}: {student.submission} was not among the submissions"
        return f"{MISSING}: no submission"
    if record.status == GRADED:
        return f"graded: {record.total}/{record.max}"
    return record.status


def write_gradebooks(
    out: Path,
    *,
    students: Sequence[Student],
    matched: Mapping[str, str],
    records: Mapping[str, Record],
    tasks: Sequence[str],
    max_points: int,
    assignment: str,
) -> None:
    """Rewrite ``gradebook.csv``, ``canvas.csv`` and ``moodle.csv`` in ``out``.

    ``matched`` maps a student id to the name of their submission among
    ``records`` (``roster.match_submissions``).
    """
    book = [["student_id", "name", "submission", "status", *tasks, "total", "max"]]
    canvas = [
        [*CANVAS_COLUMNS, assignment],
        ["Points Possible", "", "", "", "", str(max_points)],
    ]
    moodle = [[*MOODLE_COLUMNS, assignment, "Feedback"]]
    claimed = set(matched.values())
    for student in students:
        name = matched.get(student.student_id, "")
        record = records.get(name) if name else None
        who = [csv_cell(student.student_id), csv_cell(student.name)]
        if record is None:
            status, points, total = MISSING, ["" for _ in tasks], ""
        else:
            status = record.status
            points = [str(record.tasks.get(task, 0)) for task in tasks]
            total = str(record.total)
        handed_in = csv_cell(name or student.submission)
        book.append(
            [*who, handed_in, csv_cell(status), *points, total, str(max_points)]
        )
        canvas.append([who[1], "", who[0], "", "", _score(record)])
        moodle.append([*who, _score(record), csv_cell(_why(record, student))])
    for name in sorted(set(records) - claimed):
        record = records[name]
        points = [str(record.tasks.get(task, 0)) for task in tasks]
        status = csv_cell(f"not in the roster; {record.status}")
        book.append(
            [
                "",
                "",
                csv_cell(name),
                status,
                *points,
                str(record.total),
                str(max_points),
            ]
        )
    _write_atomic(out / GRADEBOOK, _csv(book))
    _write_atomic(out / CANVAS, _csv(canvas))
    _write_atomic(out / MOODLE, _csv(moodle))
