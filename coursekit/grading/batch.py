"""Grade many submissions: parallel kernels, progress, resuming.

``--jobs N`` threads each drive their own kernel (the work is waiting on
kernels and HTTP, not Python), each in an event loop of its own that also
starts the thread's next kernel while the current submission runs (see
``kernels``). Results are written by the calling thread as they arrive, one
submission at a time.

The batch's ``Isolation`` is decided once, before anything runs: its summary
is printed first (loudly when weaker than the sandbox) and recorded in every
row. Without the sandbox, the course's fingerprint is taken again after each
submission: one that changed the course's files stops the batch, since the
grades after it could not be trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import nbformat

from coursekit.check import GRADING_ENV
from coursekit.contracts.registry import (
    CHAPTERS,
    EXERCISE_BASES,
    Check,
    checks_for,
    normalize_chapter,
)
from coursekit.grading.celery_app import (
    DEFAULT_QUEUE,
    DEFAULT_VISIBILITY_TIMEOUT,
    time_limit,
)
from coursekit.grading.class_report import write_class_report
from coursekit.grading.fingerprint import course_fingerprint, grading_fingerprint
from coursekit.grading.gradebooks import CANVAS, GRADEBOOK, MOODLE, write_gradebooks
from coursekit.grading.hidden import load_hidden
from coursekit.grading.isolation import Isolation, IsolationError
from coursekit.grading.kernels import KernelPool, start_kernel
from coursekit.grading.limits import ResourceLimits
from coursekit.grading.report import CRASHED, GRADED, MAX_ATTEMPTS, Record, Report
from coursekit.grading.roster import RosterError, match_submissions, read_roster
from coursekit.grading.similarity import SimilarityResult, find_similar
from coursekit.grading.similarity import write_csv as write_similarity_csv
from coursekit.grading.submission import (
    Graded,
    Limits,
    Submission,
    chapter_from_name,
    grade_loaded,
    load,
    not_graded,
)
from coursekit.progress import Progress

__all__ = ["BatchSummary", "GradeError", "GradeSettings", "grade_batch"]


class GradeError(ValueError):
    """The batch cannot start, or cannot go on; the message says why."""


#: Variables every graded kernel gets: ``check()`` cells do nothing, and
#: chapter 06's cache expires after a second, so its expiry check is quick.
KERNEL_ENV = {GRADING_ENV: "1", "CACHE_TTL_SECONDS": "1"}


@dataclass(frozen=True)
class GradeSettings:
    """What ``coursekit grade`` was asked to do, apart from the submissions."""

    out: Path = Path("grades")
    chapter: str | None = None
    jobs: int = 1
    limits: Limits = field(default_factory=Limits)
    hidden: Path | None = None
    force: bool = False
    #: Start each thread's next kernel while it grades (each kernel still
    #: serves exactly one submission).
    ahead: bool = True
    #: ``--sandbox``: auto, require or off (see ``isolation.MODES``).
    sandbox: str = "auto"
    resources: ResourceLimits = field(default_factory=ResourceLimits)
    #: ``--roster``: a CSV of student id, name, submission; the run then
    #: also writes gradebook.csv, canvas.csv and moodle.csv.
    roster: Path | None = None
    #: ``--assignment``: the column the LMS files give the grade (default:
    #: "Chapter NN: <title>").
    assignment: str | None = None
    #: ``--engine``: "local" (this machine's kernels) or "celery" (the
    #: workers of ``broker``, each grading in its own sandbox).
    engine: str = "local"
    #: ``--broker``: the Redis URL of the Celery engine.
    broker: str | None = None
    #: ``--queue``: the Celery queue the workers consume.
    queue: str = DEFAULT_QUEUE
    #: ``--visibility-timeout``: seconds before a dead worker's task is
    #: handed to another; the workers must use the same.
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT
    #: ``--wait-workers``: seconds to wait for a first worker to answer.
    wait_workers: float = 120.0


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
        hidden: list[Check] = []
        if settings.hidden is not None:
            hidden = load_hidden(settings.hidden, chapter)
            checks += hidden
    except ValueError as exc:
        raise GradeError(str(exc)) from None
    if chapter not in EXERCISE_BASES:
        raise GradeError(
            f"chapter {chapter} has a contract but no exercise to grade yet; "
            f"the exercises are {', '.join(sorted(EXERCISE_BASES))}"
        )
    remote = settings.engine == "celery"
    if remote:
        _check_remote(settings)
    try:
        isolation = (
            None
            if remote
            else Isolation(
                mode=settings.sandbox,
                base=EXERCISE_BASES[chapter],
                resources=settings.resources,
                env=KERNEL_ENV,
                # Chapter 07's checks empty and pause the app's Redis: each
                # kernel gets one of its own (``submission_redis``).
                redis=any(c.needs_redis for c in checks),
            )
        )
    except IsolationError as exc:
        raise GradeError(str(exc)) from None
    if isolation is None:
        # Each worker requires the sandbox and records what it applied; the
        # rows say so, and ask to be graded again only if the course changes.
        summary_line = (
            "isolation: on each Celery worker, --sandbox require "
            "(a row records the worker's own)"
        )
        full = True
        level = "full"
    else:
        summary_line = isolation.summary.banner()
        full = isolation.summary.full
        level = "full" if full else "weaker: " + "; ".join(isolation.summary.missing)
    print(summary_line, file=progress, flush=True)
    hidden_files = sorted(settings.hidden.glob("*.py")) if settings.hidden else []
    fingerprint = grading_fingerprint(
        chapter,
        repr(settings.limits),
        repr(settings.resources),
        level,
        hidden_files,
    )
    tasks = list(dict.fromkeys(c.task for c in checks))
    report = Report(settings.out, tasks)
    report.load()
    if settings.roster is not None:
        lms = _Gradebooks(
            settings.out,
            settings.roster,
            chapter,
            tasks,
            max_points=sum(c.points for c in checks),
            assignment=settings.assignment,
        )
        report.also_write.append(lms.write)
    summary = BatchSummary()
    todo: list[tuple[Submission, str]] = []

    def record(submission: Submission, digest: str, graded: Graded) -> Record:
        return Record.build(
            submission=submission.name,
            path=str(submission.path),
            sha256=digest,
            chapter=chapter,
            status=graded.status,
            results=graded.results,
            cell_errors=graded.cell_errors,
            notes=graded.notes,
            duration=graded.duration,
            phases=graded.phases,
            isolation=graded.isolation,
            isolation_level=graded.isolation_level or level,
            fingerprint=fingerprint,
            hidden=[c.id for c in hidden],
        )

    for submission in submissions:
        digest = submission.sha256()
        if not settings.force and report.already_graded(
            submission.name, digest, fingerprint
        ):
            summary.skipped += 1
            continue
        if not settings.force and report.attempts(digest) >= MAX_ATTEMPTS:
            reason = (
                f"{CRASHED}: the grader stopped {MAX_ATTEMPTS} times while grading "
                "it; not graded again (--force tries once more)"
            )
            report.add(
                record(submission, digest, Graded(reason, not_graded(checks, reason)))
            )
            summary.not_graded += 1
            print(f"{submission.name}: {reason}", file=progress, flush=True)
            continue
        todo.append((submission, digest))
    if summary.skipped:
        print(
            f"skipping {summary.skipped} already graded (--force re-grades them)",
            file=progress,
            flush=True,
        )
    course = course_fingerprint() if not full else None
    start = time.perf_counter()
    try:
        _grade_and_write(
            todo,
            checks,
            settings,
            isolation,
            report,
            summary,
            record,
            course,
            progress,
            chapter=chapter,
        )
    finally:
        # Whatever was graded, interrupted or not, gets its class report.
        _write_class_outputs(report, chapter, progress)
    if not report.records:
        report.write()
    elapsed = time.perf_counter() - start
    print(
        f"{summary.graded} graded, {summary.not_graded} not graded, "
        f"{summary.skipped} skipped in {elapsed:.1f} s; see {settings.out}",
        file=progress,
        flush=True,
    )
    if settings.roster is not None:
        print(lms.summary(report.records), file=progress, flush=True)
    if not full:
        print(summary_line, file=progress, flush=True)
    return summary


def _check_remote(settings: GradeSettings) -> None:
    if not settings.broker:
        raise GradeError(
            "--engine celery needs --broker redis://HOST:6379/0, the Redis the "
            "workers (`coursekit grade-worker`) take their tasks from"
        )
    if settings.sandbox == "off":
        raise GradeError(
            "--engine celery grades in the sandbox on every worker: --sandbox off "
            "is for local grading only"
        )
    if settings.jobs != 1:
        raise GradeError(
            "--jobs is for local grading; with --engine celery, each worker's "
            "`coursekit grade-worker --concurrency N` sets how many it grades at once"
        )
    limit = time_limit(settings.limits)
    if limit >= settings.visibility_timeout:
        raise GradeError(
            f"a task may run {limit:g} s (--timeout plus "
            f"{limit - settings.limits.timeout:g} s), not less than the visibility "
            f"timeout ({settings.visibility_timeout:g} s): a slow task would be "
            "handed to a second worker while it runs. Raise --visibility-timeout "
            "(on the workers too) or lower --timeout"
        )


def _grade_and_write(
    todo: Sequence[tuple[Submission, str]],
    checks: Sequence[Check],
    settings: GradeSettings,
    isolation: Isolation | None,
    report: Report,
    summary: BatchSummary,
    record: Callable[[Submission, str, Graded], Record],
    course: str | None,
    progress: TextIO,
    *,
    chapter: str,
) -> None:
    """Grade ``todo``, writing each row as it comes, with the progress shown."""
    with Progress(
        len(todo), label="grading", unit="submissions", stream=progress
    ) as bar:
        if isolation is None:
            results = _remote_results(todo, checks, settings, chapter, bar, progress)
        else:
            results = _grade_all(
                todo, checks, settings, isolation, report, on_take=bar.started
            )
        for done, (submission, digest, graded) in enumerate(results, 1):
            row = record(submission, digest, graded)
            report.add(row)
            if graded.status == GRADED:
                summary.graded += 1
            else:
                summary.not_graded += 1
            bar.finished(
                submission.name,
                f"[{done}/{len(todo)}] {submission.name}: {graded.status} "
                f"{row.total}/{row.max} ({graded.duration:.1f} s)",
            )
            if course is not None and course_fingerprint() != course:
                raise GradeError(
                    f"the course's files changed while {submission.name} was "
                    "graded without the sandbox (a submission may have edited "
                    "them, or installed a package): stopped; the grades after it "
                    "could not be trusted. Restore the course (git status; pip "
                    "install -e .) and grade again, with bubblewrap installed"
                )


def _remote_results(
    todo: Sequence[tuple[Submission, str]],
    checks: Sequence[Check],
    settings: GradeSettings,
    chapter: str,
    bar: Progress,
    progress: TextIO,
) -> Iterator[_Result]:
    """``grade_remote``'s outcomes, its errors as ``GradeError``."""
    # Imported here: Celery is needed only by the engine that uses it.
    from coursekit.grading.remote import RemoteError, grade_remote

    try:
        yield from grade_remote(
            todo,
            checks,
            settings,
            chapter=chapter,
            on_take=bar.started,
            progress=lambda line: print(line, file=progress, flush=True),
        )
    except RemoteError as exc:
        raise GradeError(str(exc)) from None


def _write_class_outputs(report: Report, chapter: str, progress: TextIO) -> None:
    """``similarity.csv`` and ``report.html`` from every row in ``report``.

    Never raises: the grades are written already, and a fault here must not
    hide them (or the exception that ended the run); it is said instead.
    """
    records = sorted(report.records.values(), key=lambda r: r.submission)
    if not records:
        return
    files = {r.submission: Path(r.path) for r in records}
    try:
        found = find_similar(files, chapter)
        ran = True
    except Exception as exc:  # a fault of ours; the report says so
        found = SimilarityResult(
            notes=[f"the comparison failed: {type(exc).__name__}: {exc}"]
        )
        ran = False
    try:
        write_similarity_csv(found, report.out / SIMILARITY)
        path = write_class_report(
            report.out,
            records,
            report.tasks,
            chapter=chapter,
            similar=found.pairs,
            similarity_notes=found.notes,
            similarity_ran=ran,
        )
    except Exception as exc:
        print(
            f"error: the class report could not be written ({type(exc).__name__}: "
            f"{exc}); the grades are in {report.out}",
            file=progress,
            flush=True,
        )
        return
    flagged = len(found.pairs)
    copies = "near-copy" if flagged == 1 else "near-copies"
    print(
        f"class report: {path}; {flagged} {copies} to look at in {SIMILARITY}",
        file=progress,
        flush=True,
    )


class _Gradebooks:
    """The roster, and the LMS files written from it with every update."""

    def __init__(
        self,
        out: Path,
        roster: Path,
        chapter: str,
        tasks: list[str],
        *,
        max_points: int,
        assignment: str | None,
    ) -> None:
        try:
            self.students = read_roster(roster)
        except RosterError as exc:
            raise GradeError(str(exc)) from None
        self.out = out
        self.folder = roster.resolve().parent
        self.tasks = tasks
        self.max_points = max_points
        self.assignment = assignment or f"Chapter {chapter}: {CHAPTERS[chapter][0]}"

    def _matched(self, records: Sequence[Record]) -> dict[str, str]:
        graded = {r.submission: Path(r.path) for r in records}
        return match_submissions(self.students, graded, roster_folder=self.folder)

    def write(self, records: list[Record]) -> None:
        write_gradebooks(
            self.out,
            students=self.students,
            matched=self._matched(records),
            records={r.submission: r for r in records},
            tasks=self.tasks,
            max_points=self.max_points,
            assignment=self.assignment,
        )

    def summary(self, records: Mapping[str, Record]) -> str:
        matched = self._matched(list(records.values()))
        missing = len(self.students) - len(matched)
        extra = sorted(set(records) - set(matched.values()))
        line = (
            f"gradebook: {len(self.students)} learners in the roster, "
            f"{len(matched)} with a submission, {missing} missing"
        )
        if extra:
            names = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
            line += f"; {len(extra)} submissions in no roster row: {names}"
        return line + f" (see {GRADEBOOK}, {CANVAS}, {MOODLE})"


class _Todo:
    """The submissions left, shared by the grading threads."""

    def __init__(
        self,
        items: Sequence[tuple[Submission, str]],
        started: Callable[[str], None] = lambda digest: None,
        on_take: Callable[[str], None] = lambda name: None,
    ) -> None:
        self._items = deque(items)
        self._lock = threading.Lock()
        self._spares = 0
        self._started = started
        self._on_take = on_take
        self.stopped = False

    def take(self) -> tuple[Submission, str] | None:
        """The next submission, noted as begun (see ``Report.started``)."""
        with self._lock:
            if self.stopped or not self._items:
                return None
            item = self._items.popleft()
            self._started(item[1])
        self._on_take(item[0].name)
        return item

    def want_spare(self) -> bool:
        """Yes while more submissions are left than kernels started ahead."""
        with self._lock:
            if self.stopped or len(self._items) <= self._spares:
                return False
            self._spares += 1
            return True

    def used_spare(self) -> None:
        with self._lock:
            self._spares = max(0, self._spares - 1)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True


_Result = tuple[Submission, str, Graded]


class _Worker(threading.Thread):
    """A thread with its own event loop and kernel pool, grading from ``todo``.

    Each finished submission goes to ``results``, then ``_FINISHED`` (or the
    exception that stopped the thread) once the thread is done.
    """

    def __init__(
        self,
        todo: _Todo,
        results: queue.SimpleQueue[_Result | BaseException | object],
        checks: Sequence[Check],
        settings: GradeSettings,
        isolation: Isolation,
        name: str,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.todo = todo
        self.results = results
        self.checks = checks
        self.settings = settings
        self.isolation = isolation
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._cancelled = False

    def run(self) -> None:
        outcome: BaseException | object = _FINISHED
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # handed to the calling thread
            outcome = exc
        self.results.put(outcome)

    def cancel(self) -> None:
        """Stop at once: the current submission's kernel is shut down."""
        with self._lock:
            self._cancelled = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)

    async def _main(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        pool = KernelPool(
            self.todo.want_spare if self.settings.ahead else _never,
            starter=functools.partial(start_kernel, isolation=self.isolation),
        )
        try:
            while (item := self.todo.take()) is not None:
                submission, digest = item
                loaded = load(submission.path)
                if isinstance(loaded, nbformat.NotebookNode) and pool.has_spare:
                    self.todo.used_spare()
                graded = await grade_loaded(
                    loaded,
                    self.checks,
                    self.settings.limits,
                    pool,
                    resources=self.settings.resources,
                )
                self.results.put((submission, digest, graded))
        finally:
            await pool.close()
            with self._lock:
                self._loop = self._task = None


def _never() -> bool:
    return False


#: Near-copies among a run's submissions, for the instructor to look at.
SIMILARITY = "similarity.csv"

#: What a grading thread sends when it has nothing left to do.
_FINISHED = object()


def _grade_all(
    todo: Sequence[tuple[Submission, str]],
    checks: Sequence[Check],
    settings: GradeSettings,
    isolation: Isolation,
    report: Report,
    *,
    on_take: Callable[[str], None] = lambda name: None,
) -> Iterator[_Result]:
    """Grade ``todo`` on ``settings.jobs`` threads; yields results as they come.

    However this generator ends (finished, an exception in the caller,
    Ctrl-C), the threads stop and every kernel is shut down before it
    returns.
    """
    shared = _Todo(todo, report.started, on_take)
    results: queue.SimpleQueue[_Result | BaseException | object] = queue.SimpleQueue()
    jobs = max(1, min(settings.jobs, len(todo)))
    workers = [
        _Worker(shared, results, checks, settings, isolation, f"coursekit-grade-{i}")
        for i in range(jobs)
    ]
    for worker in workers:
        worker.start()
    running = len(workers)
    error: BaseException | None = None
    try:
        while running:
            item = results.get()
            if item is _FINISHED:
                running -= 1
            elif isinstance(item, BaseException):
                running -= 1
                error = error or item
                shared.stop()
            else:
                yield item  # type: ignore[misc]
    finally:
        shared.stop()
        if running:
            for worker in workers:
                worker.cancel()
        for worker in workers:
            worker.join()
    if error is not None:
        raise error
