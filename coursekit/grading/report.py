"""What the grader writes: ``grades.csv``, ``results.json``, ``feedback/``.

Everything is rewritten after each submission (to a temporary file, then
renamed over the old one), so a crash or Ctrl-C loses nothing that was
already graded, and a reader never sees half a file. ``results.json`` is
also what a re-run reads to skip what is already graded.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coursekit.contracts.runner import CheckResult, format_report

__all__ = ["GRADED", "Record", "Report", "feedback_text"]

#: The status of a submission whose app was served and checked.
GRADED = "graded"
RESULTS = "results.json"
GRADES = "grades.csv"
FEEDBACK = "feedback"


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
        )


def feedback_text(record: Record) -> str:
    """The report a learner reads: status, every check, cells that raised."""
    results = [CheckResult(**r) for r in record.results]
    lines = [f"Submission: {record.submission}"]
    if record.status == GRADED:
        lines.append("Status: graded")
    else:
        lines.append(f"Status: not graded: {record.status}")
    lines += ["", format_report(results)]
    if record.cell_errors:
        lines += ["", "Cells that raised an error:"]
        lines += [f"  {error}" for error in record.cell_errors]
    if record.notes:
        lines += ["", "Notes:"]
        lines += [f"  {note}" for note in record.notes]
    return "\n".join(lines) + "\n"


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

    def load(self) -> None:
        """Read the records of an earlier run, if any (for resuming)."""
        path = self.out / RESULTS
        if not path.exists():
            return
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data.get("submissions", []):
            record = Record(**item)
            self.records[record.submission] = record

    def already_graded(self, name: str, sha256: str) -> bool:
        """True when ``name`` was graded before with the same file content."""
        record = self.records.get(name)
        return (
            record is not None and record.sha256 == sha256 and record.status == GRADED
        )

    def add(self, record: Record) -> None:
        """Keep ``record`` and rewrite every file it changes."""
        self.records[record.submission] = record
        _write_atomic(self.feedback_path(record.submission), feedback_text(record))
        self.write()

    def feedback_path(self, name: str) -> Path:
        """``feedback/<name without .ipynb>.txt``; sub-folders kept."""
        stem = name.removesuffix(".ipynb")
        return self.out / FEEDBACK / f"{stem}.txt"

    def write(self) -> None:
        """Rewrite ``grades.csv`` and ``results.json`` from the records."""
        records = sorted(self.records.values(), key=lambda r: r.submission)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["submission", "status", *self.tasks, "total", "max"])
        for r in records:
            points = [r.tasks.get(task, 0) for task in self.tasks]
            writer.writerow([r.submission, r.status, *points, r.total, r.max])
        _write_atomic(self.out / GRADES, buffer.getvalue())
        data = {"submissions": [asdict(r) for r in records]}
        _write_atomic(self.out / RESULTS, json.dumps(data, indent=1) + "\n")
