"""``--roster FILE``: which learner handed in which notebook.

The roster is a CSV file with a header row and three columns: the
learner's id (what the LMS knows them by: Canvas's SIS User ID, Moodle's
ID number), their name, and the notebook they submitted. Common spellings
of the headers are accepted (``student id``, ``sis_user_id``, ``id``;
``name``, ``student``, ``full name``; ``submission``, ``file``,
``notebook``); other columns are ignored. A learner with an empty
submission cell has not handed anything in.

A roster's submission names a graded notebook the way ``coursekit grade``
names it (``alice/07_production.ipynb`` inside a folder, or the file name),
or by its path (from the roster's folder or the current one), or by a file
name only one submission has.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RosterError", "Student", "match_submissions", "read_roster"]


class RosterError(ValueError):
    """The roster cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Student:
    """One row of the roster."""

    student_id: str
    name: str
    #: The notebook as the roster names it ("" when none was handed in).
    submission: str


_COLUMNS = {
    "student_id": ("student id", "studentid", "sis user id", "id", "id number"),
    "name": ("name", "student", "student name", "full name"),
    "submission": ("submission", "submission file", "file", "notebook", "filename"),
}


def _header_key(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.strip().lower().lstrip("\ufeff"))


def read_roster(path: Path) -> list[Student]:
    """The learners of ``path``, in its order.

    Raises:
        RosterError: no such file, not UTF-8 text, a missing column, or a
            row without an id, or two rows with the same id or submission.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"--roster: no such file: {path}") from None
    except UnicodeDecodeError:
        raise RosterError(
            f"--roster: {path} is not UTF-8 text; save it as CSV UTF-8"
        ) from None
    except OSError as exc:
        raise RosterError(f"--roster: cannot read {path}: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise RosterError(f"--roster: {path} is empty; it needs a header row")
    keys = [_header_key(cell) for cell in rows[0]]
    where: dict[str, int] = {}
    for column, spellings in _COLUMNS.items():
        found = [i for i, key in enumerate(keys) if key in spellings]
        if not found:
            raise RosterError(
                f"--roster: {path} has no {column.replace('_', ' ')} column "
                f"(its header is {', '.join(rows[0]) or 'empty'}); name the "
                "columns student_id, name and submission"
            )
        where[column] = found[0]
    students: list[Student] = []
    ids: dict[str, int] = {}
    files: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = {c: (row[i].strip() if i < len(row) else "") for c, i in where.items()}
        student = Student(**cells)
        if not student.student_id:
            raise RosterError(f"--roster: {path} line {line} has no student id")
        if student.student_id in ids:
            raise RosterError(
                f"--roster: {path} line {line}: student id {student.student_id!r} "
                f"is already on line {ids[student.student_id]}"
            )
        ids[student.student_id] = line
        if student.submission:
            if student.submission in files:
                raise RosterError(
                    f"--roster: {path} line {line}: {student.submission!r} is "
                    f"already the submission of line {files[student.submission]}"
                )
            files[student.submission] = line
        students.append(student)
    if not students:
        raise RosterError(f"--roster: {path} has a header but no learners")
    return students


def match_submissions(
    students: Iterable[Student],
    graded: Mapping[str, Path],
    *,
    roster_folder: Path,
) -> dict[str, str]:
    """Each student id with a submission among ``graded`` -> its name there.

    ``graded`` maps a submission's name (as in ``grades.csv``) to its file.
    """
    by_path = {path.resolve(): name for name, path in graded.items()}
    by_file: dict[str, list[str]] = {}
    for name in graded:
        by_file.setdefault(Path(name).name, []).append(name)
    matched: dict[str, str] = {}
    for student in students:
        wanted = student.submission
        if not wanted:
            continue
        if wanted in graded:
            matched[student.student_id] = wanted
            continue
        for base in (roster_folder, Path.cwd()):
            name = by_path.get((base / wanted).resolve())
            if name is not None:
                matched[student.student_id] = name
                break
        else:
            same = by_file.get(Path(wanted).name, [])
            if len(same) == 1:
                matched[student.student_id] = same[0]
    return matched
