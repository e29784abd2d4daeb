"""Section 4: the course as CI sees it.

- nbval over every lesson and solution, exactly as ``make test`` runs it
  (pytest with the project's options, in this venv), several times: its wall
  time, and where it goes per notebook (from pytest's JUnit report);
- the fixed costs inside it: pytest's start-up with collecting the
  notebooks, and starting one Jupyter kernel (nbval starts one per notebook);
- the whole ``make test`` on the warm venv (set-up is a no-op then), once:
  it is the longest measurement here and its spread is nbval's plus noise;
- what a learner waits for after ``make lab``: its JupyterLab server from
  start to its first answer, against plain ``jupyter lab``, side by side.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import httpx

from bench.context import Context
from bench.stats import Goal, Row, Sample, ratios
from coursekit.process import stop_group

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
"JupyterLab start" runs the server as `make lab` does (`python -m
coursekit.lab`, which skips the rfc3987_syntax import) and as `jupyter lab`,
in pairs, each until `GET /api/status` answers 200; the browser's load of
the page is not included.
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


def _lab_start(command: list[str], home: Path) -> float:
    """Seconds from starting a JupyterLab server to its first /api/status."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(8)
    args = [
        *command,
        *("--no-browser", "--ip=127.0.0.1", f"--port={port}"),
        *("--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"),
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    url = f"http://127.0.0.1:{port}/api/status"
    headers = {"Authorization": f"token {token}"}
    start = time.perf_counter()
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while True:
            if process.poll() is not None:
                raise NotebooksBenchError(
                    f"{' '.join(command)} exited with {process.returncode}"
                )
            try:
                if httpx.get(url, headers=headers).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            if time.perf_counter() - start > 60:
                raise NotebooksBenchError(f"{' '.join(command)}: no answer in 60 s")
            time.sleep(0.01)
    finally:
        stop_group(process)


def lab_rows(ctx: Context) -> Iterable[Row]:
    """make lab's JupyterLab against plain ``jupyter lab``, in pairs."""
    bin_dir = Path(sys.executable).parent
    ours, plain = [], []
    with tempfile.TemporaryDirectory(prefix="coursekit-bench-lab-") as tmp:
        for _ in range(3 if ctx.quick else 7):
            ours.append(_lab_start([sys.executable, "-m", "coursekit.lab"], Path(tmp)))
            plain.append(_lab_start([str(bin_dir / "jupyter"), "lab"], Path(tmp)))
    ctx.log(
        f"notebooks: JupyterLab start {statistics.median(ours):.2f} s "
        f"(jupyter lab {statistics.median(plain):.2f} s)"
    )
    yield Row(
        SECTION,
        "JupyterLab start, as make lab runs it",
        Sample(ours, "s"),
        note="python -m coursekit.lab, to its first /api/status",
    )
    yield Row(SECTION, "JupyterLab start, plain jupyter lab", Sample(plain, "s"))
    yield Row(
        SECTION,
        "make lab's JupyterLab start / jupyter lab's",
        ratios(ours, plain),
        note="pairs run side by side",
    )


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
    yield from lab_rows(ctx)
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
