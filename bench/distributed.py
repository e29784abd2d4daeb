"""Section 7: grading on Celery workers against grading locally, same 2 cores.

The same batch of chapter 02 solutions (each with a learner number, so no
two files are alike) is graded in rounds, side by side, the order rotating
from round to round:

- local: ``coursekit grade --jobs 2 --sandbox require``;
- celery: ``coursekit grade --engine celery`` against a durable
  ``redis-server`` on loopback and two ``coursekit grade-worker`` processes
  (``--concurrency 1`` each), started before the round and left running:
  a grading fleet is up before a batch is sent to it.

Both sides get two kernels at a time on the same two cores; what differs is
the way to them: a task through Redis, each outcome back through it, and
a worker that starts each kernel when the task arrives (a local run starts
the next kernel while the current one is graded). Every grade is checked,
full marks for every row, before a time is reported.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import nbformat

from bench import sandbox_cost
from bench.context import Context
from bench.stats import Goal, Row, Sample, differences, ratios
from coursekit.contracts.registry import checks_for
from coursekit.grading.variants import NAMES, course_notebook
from coursekit.services import ServiceMissing
from coursekit.services.redis import redis

SECTION = "distributed"
CHAPTER = "02"
TOTAL, QUICK_TOTAL = 24, 6
SIDES = ("local", "celery")
#: One batch may not take longer than this (the notebooks' limits are far below).
RUN_TIMEOUT = 900
#: What Redis and a worker may add to each submission.
OVERHEAD_GOAL = Goal("<=", 250, "ms")

NOTES = """\
**How.** 24 chapter 02 solutions (each with its own learner number, so none
is alike) graded by the real CLI, in rounds: `--jobs 2` on this machine
against `--engine celery` with two `coursekit grade-worker` processes on
the same machine (`--concurrency 1` each, started before the round: a fleet
is up before a batch arrives), Redis on loopback with its append-only file
fsynced on every write. Both sides run two kernels at a time in the
sandbox, on the same 2 cores; the order of the sides rotates from round to
round. The overhead per submission is each round's difference of the two
batch times divided by the batch's size. Every row of every run must be
full marks, or the section fails.

**What the overhead is.** A task sent through Redis and its outcome read
back (polled every 0.25 s), and a worker that starts each kernel when its
task arrives, where a local run has the next one started while the current
one is graded. On many machines the batch time divides by the number of
workers; this is what each submission pays for that.
"""


def _coursekit() -> list[str]:
    return [sys.executable, "-m", "coursekit.cli"]


def generate(folder: Path, total: int) -> list[Path]:
    """``total`` copies of the chapter's solution, each with its own number."""
    source = course_notebook("solutions", CHAPTER)
    folder.mkdir(parents=True)
    paths = []
    for learner in range(1, total + 1):
        nb = nbformat.from_dict(source)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"Learner {learner:03}"))
        path = folder / f"learner{learner:03}_{NAMES[CHAPTER]}"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def _verify(out: Path, total: int, side: str) -> None:
    full = sum(c.points for c in checks_for(CHAPTER))
    with (out / "grades.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    wrong = [
        f"{r['submission']}: {r['status']} {r['total']}/{full}"
        for r in rows
        if r["status"] != "graded" or int(r["total"]) != full
    ]
    if len(rows) != total or wrong:
        raise RuntimeError(
            f"{side}: {len(rows)} rows of {total}; wrong: {', '.join(wrong[:5])}"
        )


class _Workers:
    """Two ``coursekit grade-worker`` processes, until the section ends."""

    def __init__(self, url: str, folder: Path) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs = [folder / f"worker-{i}.log" for i in (1, 2)]
        for i, log in enumerate(self.logs, 1):
            with log.open("wb") as output:
                self.processes.append(
                    subprocess.Popen(
                        [
                            *_coursekit(),
                            "grade-worker",
                            "--broker",
                            url,
                            "--name",
                            f"bench{i}@loopback",
                        ],
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 180
        for i, log in enumerate(self.logs, 1):
            while f"bench{i}@loopback ready." not in log.read_text(errors="replace"):
                if (
                    self.processes[i - 1].poll() is not None
                    or time.monotonic() > deadline
                ):
                    self.stop()
                    raise RuntimeError(
                        "a grading worker did not start:\n" + log.read_text()[-2000:]
                    )
                time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)


@contextlib.contextmanager
def _fleet(folder: Path) -> Iterator[str]:
    with redis(folder / "redis", durable=True) as server:
        workers = _Workers(server.url, folder)
        try:
            yield server.url
        finally:
            workers.stop()


def _grade(side: str, subs: Path, out: Path, url: str) -> float:
    command = [*_coursekit(), "grade", str(subs), "--out", str(out)]
    command += ["--chapter", CHAPTER]
    if side == "local":
        command += ["--jobs", "2", "--sandbox", "require"]
    else:
        command += ["--engine", "celery", "--broker", url]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{side}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return wall


def run(ctx: Context) -> Iterable[Row]:
    total = QUICK_TOTAL if ctx.quick else TOTAL
    reason = sandbox_cost.unavailable()
    if reason is None:
        try:
            from coursekit.services.redis import find_programs

            find_programs()
        except ServiceMissing as exc:
            reason = str(exc)
    if reason is not None:
        return [
            Row.not_measured(SECTION, f"{side}: ms per submission", reason)
            for side in SIDES
        ]
    walls: dict[str, list[float]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as folder:
        root = Path(folder)
        subs = root / "subs"
        generate(subs, total)
        with _fleet(root) as url:
            for round_ in range(ctx.repeats):
                for side in sandbox_cost.rotation(SIDES, round_):
                    out = root / f"out-{side}-{round_}"
                    ctx.log(
                        f"{SECTION}: round {round_ + 1}, {side}, {total} submissions"
                    )
                    walls[side].append(_grade(side, subs, out, url))
                    _verify(out, total, side)
    per = {side: [w / total * 1000 for w in walls[side]] for side in SIDES}
    return [
        Row(SECTION, "local --jobs 2: ms per submission", Sample(per["local"], "ms")),
        Row(
            SECTION,
            "celery, 2 workers x 1: ms per submission",
            Sample(per["celery"], "ms"),
        ),
        Row(
            SECTION,
            "celery overhead per submission",
            differences(per["celery"], per["local"], unit="ms", scale=1.0),
            OVERHEAD_GOAL,
            note=f"{total} chapter {CHAPTER} submissions per batch",
        ),
        Row(
            SECTION,
            "celery / local batch time",
            ratios(walls["celery"], walls["local"]),
        ),
    ]
