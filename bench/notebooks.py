"""Section 4: the course as CI sees it.

- nbval over every lesson and solution, exactly as ``make test`` runs it
  (pytest with the project's options, in this venv), several times: its wall
  time, and where it goes per notebook (from pytest's JUnit report);
- the fixed costs inside it: pytest's start-up with collecting the
  notebooks, and starting one Jupyter kernel (nbval starts one per notebook);
- the whole ``make test`` on the warm venv (set-up is a no-op then), once:
  it is the longest measurement here and its spread is nbval's plus noise.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from bench.context import Context
from bench.stats import Goal, Row, Sample

__all__ = ["NOTES", "run"]

ROOT = Path(__file__).resolve().parent.parent
SECTION = "notebooks"
NBVAL_GOAL = Goal("<=", 30, "s")
#: What nbval validates in ``make test``: the lessons and the solutions.
FOLDERS = ("notebooks", "solutions")
#: How ``make test`` runs pytest (the Makefile's PYTEST_JOBS=2).
PARALLEL = ("--numprocesses=2", "--dist=loadfile")

NOTES = """\
"nbval" is `python -m pytest --numprocesses=2 --dist=loadfile notebooks
solutions` with the project's pytest options (`--nbval --nbval-current-env`,
a per-cell timeout, the sanitizer): what `make test` runs on these folders,
two pytest-xdist processes, each taking whole notebooks (a notebook's cells
share one kernel). The per-notebook rows add up its test items (the kernel
start is in each notebook's first cell) from pytest's JUnit report; their sum
is what one process would spend, the work the two processes share. Pytest's
start-up and collection, and one kernel start, are measured on their own.
"make test" is the whole suite on the warm venv (the set-up step has nothing
to do), run once: at about two minutes it is the longest measurement here.
"""


class NotebooksBenchError(RuntimeError):
    """A measured command failed; the message ends with its output."""


def _timed(command: list[str], *, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise NotebooksBenchError(
            f"{' '.join(command)} failed (exit {done.returncode}); a benchmark "
            f"of a failing suite means nothing:\n{tail}"
        )
    return elapsed


def _per_notebook(report: Path) -> dict[str, float]:
    """Seconds of test items per notebook file, from a JUnit XML report."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        # nbval names its items "<path>::Cell N"; classname is the path with
        # dots, file attribute is absent, so take it from the name.
        name = case.get("name", "")
        classname = case.get("classname", "")
        path = classname.replace(".", "/") if classname else name.split("::")[0]
        if path.endswith("/ipynb"):
            path = path[: -len("/ipynb")] + ".ipynb"
        totals[path] += float(case.get("time", 0))
    return dict(totals)


def _kernel_start() -> float:
    """Seconds from starting a python3 kernel to its first kernel_info reply."""
    from jupyter_client.manager import start_new_kernel

    start = time.perf_counter()
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    elapsed = time.perf_counter() - start
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    return elapsed


def run(ctx: Context) -> Iterable[Row]:
    """Measure nbval, its fixed costs and ``make test``; yields the rows."""
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    collect, kernels, walls = [], [], []
    per_notebook: dict[str, list[float]] = defaultdict(list)
    repeats = 1 if ctx.quick else ctx.repeats
    with tempfile.TemporaryDirectory(prefix="coursekit-bench-nbval-") as tmp:
        for round_ in range(1, repeats + 1):
            collect.append(_timed([*pytest, "--collect-only", *FOLDERS]))
            kernels.append(_kernel_start())
            report = Path(tmp, f"nbval-{round_}.xml")
            walls.append(_timed([*pytest, *PARALLEL, f"--junitxml={report}", *FOLDERS]))
            for path, seconds in _per_notebook(report).items():
                per_notebook[path].append(seconds)
            ctx.log(
                f"notebooks: round {round_}/{repeats}: nbval {walls[-1]:.1f} s, "
                f"collect {collect[-1]:.1f} s, kernel start {kernels[-1]:.2f} s"
            )
    count = len(per_notebook)
    yield Row(
        SECTION,
        f"nbval over {count} notebooks (lessons and solutions), wall",
        Sample(walls, "s"),
        NBVAL_GOAL,
        note="as make test runs it: two processes, whole notebooks each",
    )
    sums = [sum(run) for run in zip(*per_notebook.values(), strict=True)]
    yield Row(
        SECTION,
        "the notebooks' own time, summed (one process's work)",
        Sample(sums, "s"),
        note="every cell and kernel start; the two processes share it",
    )
    yield Row(
        SECTION,
        "pytest start-up and collection",
        Sample(collect, "s"),
        note="pytest --collect-only over the same folders",
    )
    yield Row(
        SECTION,
        f"one kernel start (nbval starts {len(per_notebook)})",
        Sample(kernels, "s"),
        note="python3 kernel to its first kernel_info reply",
    )
    slowest = sorted(per_notebook, key=lambda p: -statistics.median(per_notebook[p]))
    for path in slowest:
        yield Row(SECTION, f"nbval {path}", Sample(per_notebook[path], "s"))
    if ctx.quick:
        return
    env = dict(os.environ, PYTEST_ARGS="-p no:cacheprovider")
    ctx.log("notebooks: make test (the whole suite, once)")
    make = _timed(["make", "test"], env=env)
    ctx.log(f"notebooks: make test {make:.1f} s")
    yield Row(
        SECTION,
        "make test on a warm venv, wall",
        Sample([make], "s"),
        note="the whole suite; set-up is a no-op; one run",
    )
