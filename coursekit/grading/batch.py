"""Grade many submissions: parallel kernels, progress, resuming.

``--jobs N`` threads each drive their own kernel (the work is waiting on
kernels and HTTP, not Python). Results are written by the calling thread as
they arrive, one submission at a time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from coursekit.contracts.registry import Check, checks_for, normalize_chapter
from coursekit.grading.hidden import load_hidden
from coursekit.grading.report import GRADED, Record, Report
from coursekit.grading.submission import (
    Graded,
    Limits,
    Submission,
    chapter_from_name,
    grade_submission,
)

__all__ = ["BatchSummary", "GradeError", "GradeSettings", "grade_batch"]


class GradeError(ValueError):
    """The batch cannot start; the message says why."""


@dataclass(frozen=True)
class GradeSettings:
    """What ``coursekit grade`` was asked to do, apart from the submissions."""

    out: Path = Path("grades")
    chapter: str | None = None
    jobs: int = 1
    limits: Limits = field(default_factory=Limits)
    hidden: Path | None = None
    force: bool = False


@dataclass
class BatchSummary:
    """How many submissions were graded, skipped, or could not be graded."""

    graded: int = 0
    not_graded: int = 0
    skipped: int = 0


def _chapter(submissions: Sequence[Submission], chapter: str | None) -> str:
    if chapter is not None:
        return normalize_chapter(chapter)
    found = {chapter_from_name(s.name) for s in submissions}
    if None in found or len(found) != 1:
        names = ", ".join(sorted(c for c in found if c)) or "none"
        raise GradeError(
            "cannot tell the chapter from the file names (NN_...ipynb; found: "
            f"{names}); pass --chapter NN, and grade one chapter per run"
        )
    (key,) = found
    assert key is not None
    return normalize_chapter(key)


def grade_batch(
    submissions: Sequence[Submission],
    settings: GradeSettings,
    *,
    progress: TextIO | None = None,
) -> BatchSummary:
    """Grade ``submissions`` into ``settings.out``; returns the counts.

    A line per finished submission goes to ``progress`` (stderr by default).

    Raises:
        GradeError: no chapter, or the hidden checks failed to load.
    """
    progress = sys.stderr if progress is None else progress
    if not submissions:
        raise GradeError("no notebooks (*.ipynb) found among the given paths")
    try:
        chapter = _chapter(submissions, settings.chapter)
        checks: list[Check] = list(checks_for(chapter))
        if settings.hidden is not None:
            checks += load_hidden(settings.hidden, chapter)
    except ValueError as exc:
        raise GradeError(str(exc)) from None
    tasks = list(dict.fromkeys(c.task for c in checks))
    report = Report(settings.out, tasks)
    report.load()
    summary = BatchSummary()
    todo: list[tuple[Submission, str]] = []
    for submission in submissions:
        digest = submission.sha256()
        if not settings.force and report.already_graded(submission.name, digest):
            summary.skipped += 1
            continue
        todo.append((submission, digest))
    if summary.skipped:
        print(
            f"skipping {summary.skipped} already graded (--force re-grades them)",
            file=progress,
            flush=True,
        )
    start = time.perf_counter()
    with ThreadPoolExecutor(
        max_workers=max(1, settings.jobs), thread_name_prefix="coursekit-grade"
    ) as pool:
        futures: dict[Future[Graded], tuple[Submission, str]] = {
            pool.submit(grade_submission, s, checks, settings.limits): (s, digest)
            for s, digest in todo
        }
        for done, future in enumerate(as_completed(futures), 1):
            submission, digest = futures[future]
            graded = future.result()  # grade_submission never raises
            record = Record.build(
                submission=submission.name,
                path=str(submission.path),
                sha256=digest,
                chapter=chapter,
                status=graded.status,
                results=graded.results,
                cell_errors=graded.cell_errors,
                notes=graded.notes,
                duration=graded.duration,
            )
            report.add(record)
            if graded.status == GRADED:
                summary.graded += 1
            else:
                summary.not_graded += 1
            print(
                f"[{done}/{len(todo)}] {submission.name}: {graded.status} "
                f"{record.total}/{record.max} ({graded.duration:.1f} s)",
                file=progress,
                flush=True,
            )
    if not report.records:
        report.write()
    elapsed = time.perf_counter() - start
    print(
        f"{summary.graded} graded, {summary.not_graded} not graded, "
        f"{summary.skipped} skipped in {elapsed:.1f} s; see {settings.out}",
        file=progress,
        flush=True,
    )
    return summary
