"""Section 5: grading throughput, ``coursekit grade`` as an instructor runs it.

100 generated submissions of chapters 02, 03 and 05, graded by the real CLI
in a subprocess (one run per chapter, as the CLI grades one chapter per
run) with ``--jobs 1`` and ``--jobs 2``, in the sandbox (``--sandbox
require``: grading as the default does where bubblewrap works, never falling
back), and with ``--jobs 2 --sandbox off`` beside it, for the chapters whose
learners write no test of their own. The peak memory is that of the
whole process tree (grader, kernels, their children), sampled every 50 ms.
Every grade, and the isolation every row records, is checked against what
it must be before a time is reported. What the isolation itself costs per
submission is measured in ``bench.sandbox_cost``. Without a working
bubblewrap, every figure that needs it is a row saying "not measured" and
why.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil

from bench import sandbox_cost
from bench.context import Context
from bench.stats import Goal, Row, Sample, differences, ratios
from coursekit.contracts.registry import checks_for, tasks_for
from coursekit.grading.variants import NAMES, VARIANTS, Variant, course_notebook

SECTION = "grading"
#: The chapters graded, each by its own run: a typical one with learner-written
#: tests (02), one that waits (03), one that spends CPU (05), and the newer
#: kinds: checks that read the files the app writes in the background (08),
#: that hold WebSocket and event-stream connections open (09), that upload
#: files of a megabyte (10), and a learner's async test run against mutants
#: with an AsyncClient, beside checks that sign in with a form and a cookie
#: (11).
CHAPTERS = ("02", "03", "05", "08", "09", "10", "11")
#: Graded a second time with ``--sandbox off``: the sandbox's cost.
OFF_CHAPTERS = ("03", "05")
TOTAL = 100
QUICK_TOTAL = 12
#: Of each chapter's submissions: solutions, exercises as released, and the
#: rest the chapter's wrong variants, in turn.
SHARE = {"solutions": 0.4, "exercises": 0.3}
#: Rounds of each side-by-side isolation measurement (``sandbox_cost``).
LAUNCH_ROUNDS, QUICK_LAUNCH_ROUNDS = 20, 5
KERNEL_ROUNDS, QUICK_KERNEL_ROUNDS = 8, 2
#: Runs of the chapter 02 solution's own tests in their sandbox (seconds each).
TEST_RUNS, QUICK_TEST_RUNS = 3, 1
#: Seconds the section may take: the ``--sandbox off`` batch runs only if
#: it fits. Six chapters, 08's seconds-long e-mail waits among them, make
#: the two sandboxed batches several times the 4 minutes three took.
SECTION_BUDGET = 1200.0
#: The goals: the isolation's cost per submission, the batch's wall time.
COST_GOAL = Goal("<=", 50, "ms")
WALL_GOAL = Goal("<=", 90, "s")
#: ``isolation`` in grades.csv for a batch in the sandbox.
FULL = "full"
SAMPLE_EVERY = 0.05
MIB = 1024 * 1024
#: One chapter's run may not take longer than this (the notebooks' own
#: limits are far below).
RUN_TIMEOUT = 600

NOTES_HEAD = """\
**The mix.** 100 submissions: chapters 02 (CRUD), 03 (async), 05
(OAuth2/JWT), 08 (around every request), 09 (live updates), 10 (files) and
11 (pages and cookies) get 15, 15, 14, 14, 14, 14 and 14. Of each chapter,
40% are the solution, 30% the exercise as released (a learner who did not
start: zero points) and 30% the chapter's known-wrong variants from
`coursekit.grading.variants`, in turn (02: three, 03: one, 05: two, 08:
four, 09: four, 10: three, 11: four; exact partial marks). Every notebook
gets a markdown cell with a learner number first, so no two files are
alike. 02 is a typical chapter and the one whose learners write a test of
their own, mutation-tested in a second sandbox; 03 spends its checks
waiting (concurrency tests that sleep), 05 spends CPU (argon2 hashing,
JWT), 08's checks wait for e-mails a background task writes to disk seconds
later, 09's hold WebSocket and event-stream connections open, 10's upload
files of a megabyte, 11's sign in with a form and a cookie and run a
learner's async test: the mix covers the ways a submission costs time. The
CLI grades one chapter per run, so each batch figure is seven runs of
`coursekit grade` back to back, timed from the first start to the last exit
(grader start-up included, seven times). Every grade is checked (solutions
full marks, mutants included; exercises 0; variants their exact points per
task and the checks their broken set-up blocks), and so is the `isolation`
of every row (`full` in the sandbox, `weaker: ...` with `--sandbox off`); a
wrong grade fails the section.

**Runs.** Each batch figure is one run (two runs would not fit the
section's time): read the spread of the other sections for how noisy the
machine is. The sandbox's batches pass `--sandbox require`: where
bubblewrap works that grades exactly as the default (`auto`) does, but it
can never fall back to grading without the sandbox unnoticed. `--jobs 2`
with `--sandbox off` runs right after `--jobs 2` in the sandbox, and only if
it fits the section's time (its row says when it did not); it grades
chapters 03 and 05 only (34 of the 100), and the ratio compares the same
34: the kernel's sandbox is what the two runs differ in, and chapter 02's
mutation testing has no unsandboxed twin worth timing. Peak RSS
is the sum of the resident sets of the grader and every process under it,
sampled every 50 ms: shared pages count once per process, so it overstates
the real use.

**What the isolation costs.** Measured in rounds, side by side, the order
rotating from round to round: `bwrap` with the arguments each of a
submission's two sandboxes gets (read-only system, environment and course
view, its own namespaces and, when the grader is root, its own user
through `setpriv`; the tests' with nothing writable) running `/bin/true`,
against `/bin/true` run directly; and a kernel's start to its first reply
through `start_kernel` with `Isolation(mode="auto")` against
`Isolation(mode="off")` (which copies the course's files, read-only, into
each kernel's folder instead). The mutation testing of a chapter 02
solution's own test (the harness started, the notebook's definitions
replayed, 1 + 5 runs, each a fresh fork) is timed in its sandbox only,
never without it (see Runs). A chapter 02 submission pays for both
sandboxes, so its cost per submission is each round's kernel difference
plus the median launch cost of the tests' sandbox: that row carries the
50 ms goal. Chapters 03 and 05 pay for the kernel's only.

**What grading does per submission.** A kernel is started in its sandbox
(a fresh folder of its own as its only writable place, working folder and
TMPDIR; no network, the app served on a Unix socket; COURSEKIT_GRADING
set), the cells run, a grader cell serves `app` in the kernel, and the
contract's checks run from the grader over that socket while, for chapter
02, the learner's own test runs against the reference and its mutants in
the second sandbox. `coursekit grade` starts each thread's next kernel
while the current submission runs, and imports FastAPI and
`coursekit.serve` in it while it waits; each kernel still serves exactly
one submission and is then shut down (in the background), its processes
swept and its folder deleted.
"""

NOTES = NOTES_HEAD


@dataclass(frozen=True)
class Expected:
    chapter: str
    kind: str  # solutions, exercises, or the variant's name
    scores: dict[str, int] | None  # per task; None: compare totals
    total: int
    max: int
    #: Checks (by name) a broken set-up step blocks, and the task it names;
    #: None: not compared (an exercise as released blocks what it blocks).
    blocked: dict[str, str] | None = field(default_factory=dict)


def _variants(chapter: str) -> list[Variant]:
    found = [v for v in VARIANTS if v.chapter == chapter]
    if not found:
        raise RuntimeError(f"chapter {chapter} has no known-wrong variant to grade")
    return found


def _expected(chapter: str, kind: str) -> Expected:
    full = sum(c.points for c in checks_for(chapter))
    if kind == "solutions":
        return Expected(chapter, kind, None, full, full)
    if kind == "exercises":
        return Expected(chapter, kind, None, 0, full, None)
    (variant,) = [v for v in _variants(chapter) if v.name == kind]
    scores = dict(variant.scores)
    return Expected(
        chapter, kind, scores, sum(scores.values()), full, dict(variant.blocked)
    )


def _split(total: int) -> dict[str, int]:
    base, extra = divmod(total, len(CHAPTERS))
    return {ch: base + (1 if i < extra else 0) for i, ch in enumerate(CHAPTERS)}


def plan(count: int, variants: list[str]) -> list[str]:
    """The kinds of a chapter's ``count`` submissions, interleaved.

    ``SHARE`` of them solutions and exercises, the rest the ``variants`` in
    turn (the first ones get one more when they do not divide evenly);
    interleaved as a class's files come, cheap and costly mixed.
    """
    if not variants:
        raise ValueError("a chapter's mix needs at least one variant")
    solutions = round(count * SHARE["solutions"])
    exercises = round(count * SHARE["exercises"])
    rest = count - solutions - exercises
    base, extra = divmod(rest, len(variants))
    counts = {"solutions": solutions, "exercises": exercises}
    for i, name in enumerate(variants):
        counts[name] = base + (1 if i < extra else 0)
    return [kind for i in range(count) for kind, n in counts.items() if i < n]


def generate(folder: Path, total: int) -> dict[str, dict[str, Expected]]:
    """``total`` submissions under ``folder/<chapter>/``; their expected grades."""
    expected: dict[str, dict[str, Expected]] = {}
    learner = 0
    for chapter, count in _split(total).items():
        variants = _variants(chapter)
        sources = {
            "solutions": course_notebook("solutions", chapter),
            "exercises": course_notebook("exercises", chapter),
            **{v.name: v.notebook() for v in variants},
        }
        out = folder / chapter
        out.mkdir(parents=True)
        expected[chapter] = {}
        for kind in plan(count, [v.name for v in variants]):
            learner += 1
            nb = nbformat.from_dict(sources[kind])
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"Learner {learner:03}"))
            name = f"learner{learner:03}_{NAMES[chapter]}"
            nbformat.write(nb, out / name)
            expected[chapter][name] = _expected(chapter, kind)
    return expected


def _coursekit() -> str:
    """The ``coursekit`` command of this environment."""
    script = Path(sys.executable).with_name("coursekit")
    found = str(script) if script.exists() else shutil.which("coursekit")
    if found is None:
        raise RuntimeError("no coursekit command: pip install -e . first")
    return found


class _PeakRss:
    """The peak summed RSS of a process and its descendants, sampled."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                family = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                family = []
            for proc in family:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(SAMPLE_EVERY)


@dataclass
class RunResult:
    wall: float
    #: chapter -> seconds of its ``coursekit grade`` run.
    walls: dict[str, float]
    peak_rss: int
    phases: dict[str, dict[str, list[float]]]  # chapter -> phase -> seconds


def without_learner_tests(chapters: Iterable[str]) -> tuple[str, ...]:
    """The ``chapters`` none of whose checks runs a learner's own test.

    Only those are graded with ``--sandbox off`` here, so that the two runs
    differ in the kernel's sandbox alone. (An early harness, without a PID
    namespace, swept every process it could signal; its sweep now ends only
    its own descendants.)
    """
    return tuple(
        chapter
        for chapter in chapters
        if not any(check.is_mutant for check in checks_for(chapter))
    )


@dataclass(frozen=True)
class Batch:
    """One batch of the section: ``--jobs``, ``--sandbox``, which chapters."""

    jobs: int
    #: "require": in the sandbox, as ``auto`` (the default) grades where
    #: bubblewrap works, but never falling back to grading without it.
    sandbox: str
    chapters: tuple[str, ...] = CHAPTERS

    @property
    def label(self) -> str:
        return f"--jobs {self.jobs}" + (
            " --sandbox off" if self.sandbox == "off" else ""
        )


#: The batches, in the order they run: the two ``--jobs 2`` back to back.
BATCHES = (
    Batch(1, "require"),
    Batch(2, "require"),
    # The chapters the unsandboxed twin has always graded, so that its ratio
    # stays comparable from run to run and the batch fits the section.
    Batch(2, "off", without_learner_tests(OFF_CHAPTERS)),
)
ON, OFF = BATCHES[1], BATCHES[2]


def _count(expected: dict[str, dict[str, Expected]], chapters: Iterable[str]) -> int:
    return sum(len(expected[chapter]) for chapter in chapters)


def grade_run(
    ctx: Context,
    folder: Path,
    expected: dict[str, dict[str, Expected]],
    batch: Batch,
) -> RunResult:
    """Grade ``batch``'s chapters as it says; checks every grade."""
    if batch.sandbox == "off" and without_learner_tests(batch.chapters) != tuple(
        batch.chapters
    ):
        raise RuntimeError(
            f"refused: {batch.label} would run learner tests without the sandbox"
        )
    out_root = Path(
        tempfile.mkdtemp(prefix=f"jobs{batch.jobs}-{batch.sandbox}-", dir=folder)
    )
    peak = 0
    phases: dict[str, dict[str, list[float]]] = {}
    walls: dict[str, float] = {}
    for chapter in batch.chapters:
        out = out_root / chapter
        command = [
            *[_coursekit(), "grade", str(folder / chapter)],
            *["--chapter", chapter, "--out", str(out), "--jobs", str(batch.jobs)],
            *["--sandbox", batch.sandbox],
        ]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        with _PeakRss(process.pid) as sampler:
            try:
                _stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise RuntimeError(
                    f"coursekit grade chapter {chapter} ran over {RUN_TIMEOUT} s"
                ) from None
        walls[chapter] = time.perf_counter() - started
        peak = max(peak, sampler.peak)
        if process.returncode != 0:
            raise RuntimeError(
                f"coursekit grade chapter {chapter} {batch.label} exited "
                f"{process.returncode}: {stderr.strip()[-500:]}"
            )
        phases[chapter] = _verify(out, chapter, expected[chapter], batch.sandbox)
    wall = sum(walls.values())
    ctx.log(
        f"grading: {batch.label}: {_count(expected, batch.chapters)} submissions "
        f"({', '.join(batch.chapters)}) in {wall:.1f} s, peak RSS "
        f"{peak / MIB:,.0f} MiB"
    )
    return RunResult(wall, walls, peak, phases)


def isolation_is(level: str, sandbox: str) -> bool:
    """Whether a row's ``isolation`` is what a batch with ``sandbox`` must record."""
    if sandbox == "off":
        return level.startswith("weaker:") and "--sandbox off" in level
    return level == FULL


def wrong_grade(
    name: str,
    want: Expected,
    row: dict[str, str],
    tasks: list[str],
    blocked: dict[str, str],
    sandbox: str,
) -> str | None:
    """What is wrong with one graded row, or None when it is what it must be.

    ``row`` is its line of grades.csv; ``blocked`` the checks its results
    say a broken set-up blocked, and the task each names.
    """
    status = row["status"]
    got_total, got_max = int(row["total"]), int(row["max"])
    got = {t: int(row[t]) for t in tasks}
    if status != "graded" or got_total != want.total:
        return f"{name} ({want.kind}): {status} {got_total}, not {want.total}"
    if got_max != want.max:
        return f"{name} ({want.kind}): out of {got_max}, not {want.max}"
    if want.scores is not None and got != want.scores:
        return f"{name} ({want.kind}): {got} != {want.scores}"
    if want.blocked is not None and blocked != want.blocked:
        return f"{name} ({want.kind}): blocked {blocked} != {want.blocked}"
    if not isolation_is(row["isolation"], sandbox):
        return f"{name} ({want.kind}): isolation {row['isolation']!r} ({sandbox})"
    return None


def _verify(
    out: Path, chapter: str, expected: dict[str, Expected], sandbox: str
) -> dict[str, list[float]]:
    """Raise unless every row is what it must be; the phases of the run."""
    with (out / "grades.csv").open(newline="", encoding="utf-8") as file:
        rows = {row["submission"]: row for row in csv.DictReader(file)}
    if set(rows) != set(expected):
        raise RuntimeError(
            f"chapter {chapter}: graded {len(rows)} of {len(expected)} submissions"
        )
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    records = {r["submission"]: r for r in data["submissions"]}
    tasks = tasks_for(chapter)
    wrong = []
    for name, want in expected.items():
        record = records[name]
        blocked = {r["name"]: r["blocked_by"] for r in record["results"]}
        blocked = {check: task for check, task in blocked.items() if task}
        problem = wrong_grade(name, want, rows[name], tasks, blocked, sandbox)
        if problem is None and record["isolation_level"] != rows[name]["isolation"]:
            problem = f"{name}: results.json's isolation is not the CSV's"
        if problem is None and not record["isolation"]:
            problem = f"{name}: results.json records no isolation"
        if problem is not None:
            wrong.append(problem)
    if wrong:
        raise RuntimeError(
            f"chapter {chapter}: {len(wrong)} wrong grades, e.g. {wrong[0]}"
        )
    phases: dict[str, list[float]] = {}
    for record in data["submissions"]:
        for phase, seconds in record.get("phases", {}).items():
            phases.setdefault(phase, []).append(seconds)
        phases.setdefault("total", []).append(record["duration"])
    return phases


def _breakdown(run: RunResult, batch: Batch) -> str:
    order = ["start", "cells", "serve", "checks", "total"]
    lines = [
        f"Where a submission's time goes (`{batch.label}`, median seconds per "
        "submission, from `results.json`; `start` is the wait for a kernel "
        "started ahead, shutdown happens in the background):",
        "",
        "| chapter | " + " | ".join(order) + " |",
        "|" + " --- |" * (len(order) + 1),
    ]
    for chapter, phases in run.phases.items():
        cells = [
            f"{statistics.median(phases[p]):.2f}" if p in phases else "-" for p in order
        ]
        lines.append(f"| {chapter} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(values: Iterable[float]) -> Sample:
    return Sample([v * 1000 for v in values], "ms")


LAUNCH = "bwrap <{} sandbox> -- /bin/true"
LAUNCH_COST = "bwrap launch cost, {} sandbox"
LAUNCHES_PER_SUBMISSION = "bwrap launch cost per submission (02: kernel's + tests')"
KERNEL = "kernel start to first reply"
TESTS = "chapter 02 solution's own test, 1 + 5 runs, in its sandbox"
PER_SUBMISSION = "isolation's cost per submission (02: kernel + tests' sandbox)"


def cost_rows(costs: sandbox_cost.Costs | None, reason: str = "") -> list[Row]:
    """The isolation's cost rows; with no ``costs``, each says why not."""
    if costs is None:
        return [
            Row.not_measured(SECTION, LAUNCH_COST.format("a kernel's"), reason),
            Row.not_measured(SECTION, LAUNCH_COST.format("the tests'"), reason),
            Row.not_measured(SECTION, LAUNCHES_PER_SUBMISSION, reason, COST_GOAL),
            Row.not_measured(SECTION, f"{KERNEL}: sandbox / --sandbox off", reason),
            Row.not_measured(SECTION, f"{KERNEL}: the sandbox's cost", reason),
            Row.not_measured(SECTION, TESTS, reason),
            Row.not_measured(SECTION, PER_SUBMISSION, reason, COST_GOAL),
        ]
    launch, kernel = costs.launch, costs.kernel
    rounds = "rounds side by side, order rotating"
    kernel_cost = differences(kernel["sandbox"], kernel["off"])
    kernel_launch = differences(launch["kernel"], launch["direct"])
    tests_launch = differences(launch["tests"], launch["direct"])
    both = [
        k + t for k, t in zip(kernel_launch.values, tests_launch.values, strict=True)
    ]
    return [
        Row(SECTION, "/bin/true run directly", _ms(launch["direct"]), None, rounds),
        Row(
            SECTION,
            LAUNCH.format("a kernel's"),
            _ms(launch["kernel"]),
            None,
            "own namespaces, read-only binds, setpriv when root",
        ),
        Row(
            SECTION,
            LAUNCH_COST.format("a kernel's"),
            kernel_launch,
            None,
            "paired differences",
        ),
        Row(
            SECTION,
            LAUNCH_COST.format("the tests'"),
            tests_launch,
            None,
            "paired differences; nothing writable",
        ),
        Row(
            SECTION,
            LAUNCHES_PER_SUBMISSION,
            Sample(both, "ms"),
            COST_GOAL,
            "each round's two differences added; 03, 05: the kernel's only",
        ),
        Row(SECTION, f"{KERNEL}, in the sandbox", _ms(kernel["sandbox"]), None, rounds),
        Row(SECTION, f"{KERNEL}, --sandbox off", _ms(kernel["off"]), None, rounds),
        Row(
            SECTION,
            f"{KERNEL}: sandbox / --sandbox off",
            ratios(kernel["sandbox"], kernel["off"]),
            None,
            "paired ratios",
        ),
        Row(
            SECTION,
            f"{KERNEL}: the sandbox's cost",
            kernel_cost,
            None,
            "paired differences; off copies the course's files instead",
        ),
        Row(
            SECTION,
            TESTS,
            _ms(costs.tests),
            None,
            "harness started, cells replayed, 6 forks; never run without it",
        ),
        Row(
            SECTION,
            PER_SUBMISSION,
            Sample(
                sandbox_cost.per_submission(kernel_cost.values, tests_launch.median),
                "ms",
            ),
            COST_GOAL,
            "each kernel round + the tests' median launch cost; 03, 05: kernel only",
        ),
    ]


def batch_rows(
    runs: dict[Batch, RunResult],
    expected: dict[str, dict[str, Expected]],
    reasons: dict[Batch, str] | None = None,
) -> list[Row]:
    """The batches' rows; a batch missing from ``runs`` says why (``reasons``)."""
    reasons = reasons or {}
    total = _count(expected, CHAPTERS)
    full = total == TOTAL
    note = "one run" if full else "--quick: not the 100 of the goal"

    def missing(batch: Batch) -> str:
        return reasons.get(batch) or "not run"

    rows: list[Row] = []
    for batch in BATCHES:
        count = _count(expected, batch.chapters)
        chapters = (
            "" if batch.chapters == CHAPTERS else f" ({', '.join(batch.chapters)})"
        )
        what = f"{count} submissions{chapters}, {batch.label}: wall time"
        goal = WALL_GOAL if full and batch == ON else None
        result = runs.get(batch)
        if result is None:
            rows.append(Row.not_measured(SECTION, what, missing(batch), goal))
            continue
        rows.append(Row(SECTION, what, Sample([result.wall], "s"), goal, note))
        rows.append(
            Row(
                SECTION,
                f"{batch.label}: submissions per minute",
                Sample([count / result.wall * 60], "/min"),
                None,
                note,
            )
        )
    on, off = runs.get(ON), runs.get(OFF)
    both = ", ".join(OFF.chapters)
    what = f"--jobs 2, chapters {both}: sandbox / --sandbox off, wall time"
    per = f"--jobs 2, chapters {both}: the sandbox's cost per submission"
    if on is None or off is None:
        why = missing(ON) if on is None else missing(OFF)
        rows.append(Row.not_measured(SECTION, what, why))
        rows.append(Row.not_measured(SECTION, per, why))
    else:
        same = sum(on.walls[chapter] for chapter in OFF.chapters)
        count = _count(expected, OFF.chapters)
        pair = "one pair: the same submissions, back to back"
        rows.append(Row(SECTION, what, ratios([same], [off.wall]), None, pair))
        rows.append(
            Row(
                SECTION,
                per,
                differences([same / count], [off.wall / count]),
                None,
                f"{pair}; wall time, 2 at a time",
            )
        )
    for batch in BATCHES:
        result = runs.get(batch)
        what = f"{batch.label}: peak RSS, grader + kernels"
        if result is None:
            rows.append(Row.not_measured(SECTION, what, missing(batch)))
            continue
        rows.append(
            Row(
                SECTION,
                what,
                Sample([result.peak_rss / MIB], "MiB"),
                Goal("<=", 1.5 * 1024, "MiB") if full else None,
                "sum of RSS, sampled every 50 ms",
            )
        )
    return rows


def over_budget(elapsed: float, estimate: float, budget: float) -> str | None:
    """Why a batch taking about ``estimate`` s does not fit, or None if it does.

    ``elapsed``: seconds the section has run so far, of its ``budget``.
    """
    if elapsed + estimate <= budget:
        return None
    return (
        f"did not fit the section's time (run {elapsed:.0f} s, would take about "
        f"{estimate:.0f} s more, of {budget:.0f} s)"
    )


def run(ctx: Context) -> Iterable[Row]:
    global NOTES
    started = time.perf_counter()
    total = QUICK_TOTAL if ctx.quick else TOTAL
    missing = sandbox_cost.unavailable()
    reason = ""
    costs = None
    if missing is not None:
        reason = f"no sandbox here: {missing}"
        ctx.log(f"grading: {reason}; measuring --sandbox off only")
    else:
        costs = sandbox_cost.measure(
            ctx,
            launches=QUICK_LAUNCH_ROUNDS if ctx.quick else LAUNCH_ROUNDS,
            rounds=QUICK_KERNEL_ROUNDS if ctx.quick else KERNEL_ROUNDS,
            tests=QUICK_TEST_RUNS if ctx.quick else TEST_RUNS,
        )
    reasons: dict[Batch, str] = {}
    runs: dict[Batch, RunResult] = {}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp)
        expected = generate(folder, total)
        ctx.log(f"grading: {total} submissions generated in {folder}")
        for batch in BATCHES:
            if costs is None and batch.sandbox != "off":
                reasons[batch] = reason
                continue
            on = runs.get(ON)
            if batch == OFF and on is not None:
                # Only if it fits: about what the same chapters took in the
                # sandbox.
                estimate = sum(on.walls[chapter] for chapter in OFF.chapters)
                elapsed = time.perf_counter() - started
                late = over_budget(elapsed, estimate, SECTION_BUDGET)
                if late is not None:
                    reasons[batch] = late
                    ctx.log(f"grading: {batch.label} not run: {late}")
                    continue
            runs[batch] = grade_run(ctx, folder, expected, batch)
    NOTES = NOTES_HEAD + "".join(
        "\n" + _breakdown(result, batch) + "\n" for batch, result in runs.items()
    ).rstrip("\n")
    yield from cost_rows(costs, reason)
    yield from batch_rows(runs, expected, reasons)
