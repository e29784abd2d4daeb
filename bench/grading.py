"""Section 5: grading throughput, ``coursekit grade`` as an instructor runs it.

100 generated submissions of chapters 02, 03 and 05, graded by the real CLI
in a subprocess (one run per chapter, as the CLI grades one chapter per
run) with ``--jobs 1`` and ``--jobs 2``. The peak memory is that of the
whole process tree (grader, kernels, their children), sampled every 50 ms.
Every grade is checked against what it must be before a time is reported.
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
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil

from bench.context import Context
from bench.stats import Goal, Row, Sample
from coursekit.contracts.registry import checks_for, tasks_for
from coursekit.grading.variants import NAMES, VARIANTS, course_notebook

SECTION = "grading"
#: The chapters that have known-wrong variants, each graded by its own run.
CHAPTERS = ("02", "03", "05")
TOTAL = 100
QUICK_TOTAL = 12
#: Of each chapter's submissions: solutions, exercises as released, and the
#: rest the chapter's wrong variant.
SHARE = {"solutions": 0.4, "exercises": 0.3}
SAMPLE_EVERY = 0.05
MIB = 1024 * 1024
#: One chapter's run may not take longer than this (the notebooks' own
#: limits are far below).
RUN_TIMEOUT = 600

NOTES_HEAD = """\
**The mix.** 100 submissions: chapters 02 (CRUD), 03 (async) and 05
(OAuth2/JWT) get 34, 33 and 33, the three chapters with a known-wrong
variant of the solution. Of each chapter, 40% are the solution, 30% the
exercise as released (a learner who did not start: zero points) and 30% the
wrong variant (exact partial marks). Every notebook gets a markdown cell with
a learner number first, so no two files are alike. 02 is a typical chapter,
03 spends its checks waiting (concurrency tests that sleep), 05 spends CPU
(argon2 hashing, JWT), so the mix covers the ways a submission costs time. The CLI
grades one chapter per run, so each `--jobs` figure is three runs of
`coursekit grade` back to back, timed from the first start to the last exit
(grader start-up included, three times). Every grade is checked (solutions
full marks, exercises 0, variants their exact points per task); a wrong
grade fails the section.

**Runs.** Each figure is one run of the 100 (two runs would not fit the
section's 4 minutes): read the spread of the other sections for how noisy
the machine is. Peak RSS is the sum of the resident sets of the grader and
every process under it, sampled every 50 ms: shared pages count once per
process, so it overstates the real use.

**What grading does per submission.** A kernel is started (IPC, a fresh
temporary folder as its working folder and TMPDIR, COURSEKIT_GRADING set),
the cells run, a grader cell serves `app` in the kernel, and the contract's
checks run from the grader over HTTP. `coursekit grade` starts each
thread's next kernel while the current submission runs, and imports FastAPI
and `coursekit.serve` in it while it waits; each kernel still serves exactly
one submission and is then shut down (in the background) and its folder
deleted.
"""

NOTES = NOTES_HEAD


@dataclass(frozen=True)
class Expected:
    chapter: str
    kind: str  # solutions, exercises, or the variant's name
    scores: dict[str, int] | None  # per task; None: compare totals
    total: int


def _expected(chapter: str, kind: str) -> Expected:
    full = sum(c.points for c in checks_for(chapter))
    if kind == "solutions":
        return Expected(chapter, kind, None, full)
    if kind == "exercises":
        return Expected(chapter, kind, None, 0)
    (variant,) = [v for v in VARIANTS if v.chapter == chapter and v.name == kind]
    return Expected(chapter, kind, variant.scores, sum(variant.scores.values()))


def _split(total: int) -> dict[str, int]:
    base, extra = divmod(total, len(CHAPTERS))
    return {ch: base + (1 if i < extra else 0) for i, ch in enumerate(CHAPTERS)}


def generate(folder: Path, total: int) -> dict[str, dict[str, Expected]]:
    """``total`` submissions under ``folder/<chapter>/``; their expected grades."""
    expected: dict[str, dict[str, Expected]] = {}
    learner = 0
    for chapter, count in _split(total).items():
        (variant,) = [v for v in VARIANTS if v.chapter == chapter]
        sources = {
            "solutions": course_notebook("solutions", chapter),
            "exercises": course_notebook("exercises", chapter),
            variant.name: variant.notebook(),
        }
        solutions = round(count * SHARE["solutions"])
        exercises = round(count * SHARE["exercises"])
        counts = {
            "solutions": solutions,
            "exercises": exercises,
            variant.name: count - solutions - exercises,
        }
        # Interleaved, as a class's files come: cheap and costly mixed.
        kinds = [kind for i in range(count) for kind, n in counts.items() if i < n]
        out = folder / chapter
        out.mkdir(parents=True)
        expected[chapter] = {}
        for kind in kinds:
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
    peak_rss: int
    phases: dict[str, dict[str, list[float]]]  # chapter -> phase -> seconds


def grade_run(
    ctx: Context, folder: Path, expected: dict[str, dict[str, Expected]], jobs: int
) -> RunResult:
    """Grade every chapter with ``--jobs jobs``; checks every grade."""
    out_root = Path(tempfile.mkdtemp(prefix=f"jobs{jobs}-", dir=folder))
    peak = 0
    phases: dict[str, dict[str, list[float]]] = {}
    start = time.perf_counter()
    for chapter in CHAPTERS:
        out = out_root / chapter
        command = [
            *[_coursekit(), "grade", str(folder / chapter)],
            *["--chapter", chapter, "--out", str(out), "--jobs", str(jobs)],
        ]
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
        peak = max(peak, sampler.peak)
        if process.returncode != 0:
            raise RuntimeError(
                f"coursekit grade chapter {chapter} --jobs {jobs} exited "
                f"{process.returncode}: {stderr.strip()[-500:]}"
            )
        phases[chapter] = _verify(out, chapter, expected[chapter])
    wall = time.perf_counter() - start
    ctx.log(
        f"grading: --jobs {jobs}: {sum(map(len, expected.values()))} submissions "
        f"in {wall:.1f} s, peak RSS {peak / MIB:,.0f} MiB"
    )
    return RunResult(wall, peak, phases)


def _verify(
    out: Path, chapter: str, expected: dict[str, Expected]
) -> dict[str, list[float]]:
    """Raise unless every row is what it must be; the phases of the run."""
    with (out / "grades.csv").open(newline="", encoding="utf-8") as file:
        rows = {row["submission"]: row for row in csv.DictReader(file)}
    if set(rows) != set(expected):
        raise RuntimeError(
            f"chapter {chapter}: graded {len(rows)} of {len(expected)} submissions"
        )
    tasks = tasks_for(chapter)
    wrong = []
    for name, want in expected.items():
        row = rows[name]
        got_total = int(row["total"])
        got = {t: int(row[t]) for t in tasks}
        if row["status"] != "graded" or got_total != want.total:
            wrong.append(f"{name} ({want.kind}): {row['status']} {got_total}")
        elif want.scores is not None and got != want.scores:
            wrong.append(f"{name} ({want.kind}): {got} != {want.scores}")
    if wrong:
        raise RuntimeError(
            f"chapter {chapter}: {len(wrong)} wrong grades, e.g. {wrong[0]}"
        )
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    phases: dict[str, list[float]] = {}
    for record in data["submissions"]:
        for phase, seconds in record.get("phases", {}).items():
            phases.setdefault(phase, []).append(seconds)
        phases.setdefault("total", []).append(record["duration"])
    return phases


def _breakdown(run: RunResult, jobs: int) -> str:
    order = ["start", "cells", "serve", "checks", "total"]
    lines = [
        f"Where a submission's time goes (`--jobs {jobs}`, median seconds per "
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


def run(ctx: Context) -> Iterable[Row]:
    global NOTES
    total = QUICK_TOTAL if ctx.quick else TOTAL
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp)
        expected = generate(folder, total)
        ctx.log(f"grading: {total} submissions generated in {folder}")
        runs = {jobs: grade_run(ctx, folder, expected, jobs) for jobs in (1, 2)}
    NOTES = NOTES_HEAD + "\n" + _breakdown(runs[1], 1) + "\n\n" + _breakdown(runs[2], 2)
    full = total == TOTAL
    note = "one run" if full else "--quick: not the 100 of the goal"
    for jobs, result in runs.items():
        yield Row(
            SECTION,
            f"{total} submissions, --jobs {jobs}: wall time",
            Sample([result.wall], "s"),
            Goal("<=", 90, "s") if full and jobs == 2 else None,
            note,
        )
        yield Row(
            SECTION,
            f"--jobs {jobs}: submissions per minute",
            Sample([total / result.wall * 60], "/min"),
            None,
            note,
        )
    for jobs, result in runs.items():
        yield Row(
            SECTION,
            f"--jobs {jobs}: peak RSS, grader + kernels",
            Sample([result.peak_rss / MIB], "MiB"),
            Goal("<=", 1.5 * 1024, "MiB") if full else None,
            "sum of RSS, sampled every 50 ms",
        )
