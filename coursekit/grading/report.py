"""What the grader writes: ``grades.csv``, ``results.json``, ``feedback/``,
``gradescope/`` (each submission's Gradescope ``results.json``).

Everything is rewritten after each submission (to a temporary file, then
renamed over the old one), so a crash or Ctrl-C loses nothing that was
already graded, and a reader never sees half a file. ``results.json`` is
also what a re-run reads to skip what is already graded: a row is kept only
when its submission and the grading fingerprint (course, checks, limits,
isolation) are unchanged.

``attempts.json`` counts the submissions whose grading began but never
ended: one that stopped the grader twice becomes a row of its own instead
of stopping every resumed run at the same notebook.

Only the grader writes here; a sandboxed submission cannot see the folder.
Whatever text came from a submission is shown quoted, on one line
(``untrusted``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coursekit.contracts.runner import CheckResult, format_report
from coursekit.grading.untrusted import csv_cell, one_line

__all__ = ["CRASHED", "GRADED", "Record", "Report", "feedback_text"]

#: The status of a submission whose app was served and checked.
GRADED = "graded"
#: The status of a submission during whose grading the grader stopped twice.
CRASHED = "crashed the grader"
RESULTS = "results.json"
GRADES = "grades.csv"
FEEDBACK = "feedback"
GRADESCOPE = "gradescope"
ATTEMPTS = "attempts.json"
#: Runs that may stop while grading one submission before it is given up.
MAX_ATTEMPTS = 2


@dataclass
class Record:
    """One submission's grade, as stored in ``results.json``."""

    submission: str
    path: str
    sha256: str
    chapter: str
    status: str
    total: int
    max: int
    tasks: dict[str, int]
    results: list[dict[str, Any]]
    cell_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0
    #: Seconds spent waiting for the kernel, running the cells, serving the
    #: app and running the checks ("start", "cells", "serve", "checks").
    phases: dict[str, float] = field(default_factory=dict)
    #: What isolated the kernel (empty: no kernel ran).
    isolation: list[str] = field(default_factory=list)
    #: "full", or "weaker: ..." saying what was missing.
    isolation_level: str = ""
    #: What the grade depends on besides the submission (resuming compares).
    fingerprint: str = ""
    #: The ids of the instructor's checks (``--hidden``), which Gradescope
    #: shows a learner only once grades are published.
    hidden: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        *,
        submission: str,
        path: str,
        sha256: str,
        chapter: str,
        status: str,
        results: list[CheckResult],
        cell_errors: list[str],
        notes: list[str],
        duration: float,
        phases: dict[str, float] | None = None,
        isolation: list[str] | None = None,
        isolation_level: str = "",
        fingerprint: str = "",
        hidden: list[str] | None = None,
    ) -> Record:
        """A record with the per-task points and totals summed from ``results``."""
        tasks: dict[str, int] = {}
        for r in results:
            tasks[r.task] = tasks.get(r.task, 0) + r.points
        return cls(
            submission=submission,
            path=path,
            sha256=sha256,
            chapter=chapter,
            status=status,
            total=sum(r.points for r in results),
            max=sum(r.max_points for r in results),
            tasks=tasks,
            results=[r.to_dict() for r in results],
            cell_errors=cell_errors,
            notes=notes,
            duration=round(duration, 3),
            phases=dict(phases or {}),
            isolation=list(isolation or []),
            isolation_level=isolation_level,
            fingerprint=fingerprint,
            hidden=list(hidden or []),
        )


_SERVER_TEXT = ("message", "expected", "got", "request")


def _one_line_result(data: dict[str, Any]) -> CheckResult:
    # Responses, and exceptions raised by them, are the submission's text.
    result = CheckResult(**data)
    for name in _SERVER_TEXT:
        setattr(result, name, one_line(getattr(result, name), 600))
    return result


def feedback_text(record: Record) -> str:
    """The report a learner reads: status, every check, cells that raised.

    Every line the submission could influence is one line: its text is
    escaped and clipped (``untrusted``), so it cannot pass for the grader's.
    """
    results = [_one_line_result(r) for r in record.results]
    lines = [f"Submission: {one_line(record.submission)}"]
    if record.status == GRADED:
        lines.append("Status: graded")
    else:
        lines.append(f"Status: not graded: {one_line(record.status, 600)}")
    lines += ["", format_report(results), *notebook_lines(record)]
    return "\n".join(lines) + "\n"


def notebook_lines(record: Record) -> list[str]:
    """The cells that raised and the notes, each quoted on one line."""
    lines: list[str] = []
    if record.cell_errors:
        lines += ["", "Cells that raised an error (their text is your notebook's):"]
        lines += [f"  {one_line(error, 600)}" for error in record.cell_errors]
    if record.notes:
        lines += ["", "Notes:"]
        lines += [f"  {one_line(note, 600)}" for note in record.notes]
    return lines


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Report:
    """The output folder: the records so far, and the files made from them."""

    def __init__(self, out: Path, tasks: list[str]) -> None:
        self.out = out
        self.tasks = tasks
        self.records: dict[str, Record] = {}
        #: More files made from the records (the LMS gradebooks), rewritten
        #: with grades.csv: each is called with the records, sorted by name.
        self.also_write: list[Callable[[list[Record]], None]] = []
        # Grading threads note what they begin while this thread writes rows.
        self._attempts_lock = threading.Lock()

    def load(self) -> None:
        """Read the records of an earlier run, if any (for resuming)."""
        path = self.out / RESULTS
        if not path.exists():
            return
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data.get("submissions", []):
            record = Record(**item)
            self.records[record.submission] = record

    def already_graded(self, name: str, sha256: str, fingerprint: str) -> bool:
        """True when ``name`` was graded before, from the same file, the same way.

        A row made by another version of the course or checks, other limits
        or another isolation (``fingerprint``) is graded again.
        """
        record = self.records.get(name)
        return (
            record is not None
            and record.sha256 == sha256
            and record.fingerprint == fingerprint
            and (record.status == GRADED or record.status.startswith(CRASHED))
        )

    # -- attempts ----------------------------------------------------------

    def _attempts(self) -> dict[str, int]:
        path = self.out / ATTEMPTS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}

    def attempts(self, sha256: str) -> int:
        """How many runs began grading this content and never finished it."""
        return self._attempts().get(sha256, 0)

    def started(self, sha256: str) -> None:
        """Note that grading this content begins (cleared by ``add``)."""
        with self._attempts_lock:
            attempts = self._attempts()
            attempts[sha256] = attempts.get(sha256, 0) + 1
            self._write_attempts(attempts)

    def _finished(self, sha256: str) -> None:
        with self._attempts_lock:
            attempts = self._attempts()
            if attempts.pop(sha256, None) is not None:
                self._write_attempts(attempts)

    def _write_attempts(self, attempts: dict[str, int]) -> None:
        path = self.out / ATTEMPTS
        if attempts:
            _write_atomic(path, json.dumps(attempts, indent=1) + "\n")
        else:
            path.unlink(missing_ok=True)

    def add(self, record: Record) -> None:
        """Keep ``record`` and rewrite every file it changes."""
        # Imported here: the Gradescope format is built from this module's Record.
        from coursekit.grading.gradescope import write_gradescope_results

        self.records[record.submission] = record
        _write_atomic(self.feedback_path(record.submission), feedback_text(record))
        write_gradescope_results(record, self.gradescope_path(record.submission))
        self.write()
        self._finished(record.sha256)

    def feedback_path(self, name: str) -> Path:
        """``feedback/<name without .ipynb>.txt``; sub-folders kept."""
        stem = name.removesuffix(".ipynb")
        return self.out / FEEDBACK / f"{stem}.txt"

    def gradescope_path(self, name: str) -> Path:
        """``gradescope/<name without .ipynb>.json``; sub-folders kept."""
        stem = name.removesuffix(".ipynb")
        return self.out / GRADESCOPE / f"{stem}.json"

    def write(self) -> None:
        """Rewrite ``grades.csv`` and ``results.json`` from the records."""
        records = sorted(self.records.values(), key=lambda r: r.submission)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["submission", "status", *self.tasks, "total", "max", "isolation"]
        writer.writerow(header)
        for r in records:
            points = [r.tasks.get(task, 0) for task in self.tasks]
            row = [csv_cell(r.submission), csv_cell(r.status), *points, r.total, r.max]
            writer.writerow([*row, csv_cell(r.isolation_level)])
        _write_atomic(self.out / GRADES, buffer.getvalue())
        data = {"submissions": [asdict(r) for r in records]}
        _write_atomic(self.out / RESULTS, json.dumps(data, indent=1) + "\n")
        for write in self.also_write:
            write(records)
