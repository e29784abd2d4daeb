"""One submission: find it, validate it, run it in a fresh kernel, grade it.

The notebook runs with ``allow_errors=True`` (a broken task must not cost the
later ones), under a limit per cell and one for the whole notebook, in a
kernel whose working folder is a fresh temporary one. Then the serve cell
(``agent``) serves ``app`` from inside the kernel and the checks run from
here, over HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import psutil
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from coursekit.contracts.registry import Check
from coursekit.contracts.runner import CheckResult, run_check
from coursekit.grading import agent
from coursekit.grading.kernels import Kernel, KernelPool

__all__ = [
    "Graded",
    "Limits",
    "Submission",
    "chapter_from_name",
    "find_submissions",
    "grade_loaded",
    "grade_notebook",
    "grade_submission",
    "load",
    "not_graded",
]

_CHAPTER_RE = re.compile(r"^(\d\d)_")
#: Checkpoint copies that Jupyter leaves next to the real notebooks.
_SKIP_DIRS = {".ipynb_checkpoints"}


@dataclass(frozen=True)
class Submission:
    """A notebook file to grade; ``name`` is how reports refer to it."""

    name: str
    path: Path

    def sha256(self) -> str:
        """The hash of the file's bytes: what resuming compares."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Limits:
    """Time and size limits for one submission."""

    #: Seconds one cell may run.
    cell_timeout: float = 60.0
    #: Seconds all the cells together may run.
    timeout: float = 300.0
    #: Characters of output kept per cell; the rest is dropped as it arrives.
    output_cap: int = 100_000


@dataclass
class Graded:
    """The outcome of one submission."""

    status: str
    results: list[CheckResult]
    cell_errors: list[str] = field(default_factory=list)
    #: What the learner should know besides the checks (output cut, ...).
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0
    #: Seconds spent in each phase: start, cells, serve, checks, shutdown.
    phases: dict[str, float] = field(default_factory=dict)


def chapter_from_name(name: str) -> str | None:
    """``"01"`` for ``01_hello_world.ipynb``; None without an ``NN_`` prefix."""
    match = _CHAPTER_RE.match(Path(name).name)
    return match.group(1) if match else None


def find_submissions(paths: Sequence[Path]) -> list[Submission]:
    """The notebooks named by ``paths``: files as given, folders searched.

    A file is named by its file name, a notebook found in a folder by its
    path inside that folder (``alice/01_hello.ipynb``), so per-learner
    folders of same-named notebooks stay apart.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: two submissions would get the same name.
    """
    found: dict[str, Submission] = {}
    for path in paths:
        if path.is_dir():
            pairs = [
                (p.relative_to(path).as_posix(), p)
                for p in sorted(path.rglob("*.ipynb"))
                if not _SKIP_DIRS.intersection(p.relative_to(path).parts)
            ]
        elif path.exists():
            pairs = [(path.name, path)]
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
        for name, file in pairs:
            if name in found and found[name].path.resolve() != file.resolve():
                raise ValueError(
                    f"two submissions are named {name!r} ({found[name].path} and "
                    f"{file}); grade them in separate runs, each with its own --out"
                )
            found[name] = Submission(name, file)
    return list(found.values())


def not_graded(checks: Sequence[Check], reason: str) -> list[CheckResult]:
    """Every check skipped with 0 points, for a submission that served no app."""
    return [
        CheckResult(
            id=c.id,
            chapter=c.chapter,
            task=c.task,
            name=c.name,
            # Skipped: the check never ran (the reason is the row's status).
            status="skipped",
            points=0,
            max_points=c.points,
            hint=c.hint,
            message="not graded",
        )
        for c in checks
    ]


def load(path: Path) -> nbformat.NotebookNode | str:
    """The validated notebook, or the reason it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"unreadable: {exc}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if not isinstance(data, dict) or "cells" not in data:
        return "not a notebook: the JSON has no cells"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"not a notebook: {type(exc).__name__}: {first}"[:300]
    return nb


def _port_owner_ok(pid: int | None, port: int) -> bool:
    """True when the kernel process (or a child) listens on ``port``."""
    if pid is None:
        return False
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
        for proc in family:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                    return True
    except psutil.Error:
        return False
    return False


def _run_checks(
    checks: Sequence[Check], url: str, secret_key: str | None
) -> list[CheckResult]:
    return [run_check(c, url, secret_key=secret_key) for c in checks]


def _cell_error(index: int, output: dict[str, Any]) -> str:
    return f"cell {index + 1}: {output.get('ename')}: {output.get('evalue')}"[:300]


async def grade_notebook(
    nb: nbformat.NotebookNode,
    checks: Sequence[Check],
    limits: Limits,
    pool: KernelPool,
    phases: dict[str, float] | None = None,
) -> Graded:
    """Run ``nb`` in a kernel from ``pool``, serve its app, run ``checks``.

    The kernel serves this notebook only; it is released (shut down, its
    folder deleted) on the way out, whichever way that is. ``phases`` gets
    the seconds spent waiting for the kernel, running the cells, serving
    the app, running the checks.
    """
    phases = {} if phases is None else phases
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(phases.get(name, 0.0) + now - mark, 3)
        mark = now

    # The total limit counts from here, waiting for the kernel included.
    deadline = time.monotonic() + limits.timeout
    running: list[int] = []
    cell_errors: list[str] = []
    # Filled in on the way out, whichever way that is; _stopped and Graded
    # keep a reference to the same list.
    notes: list[str] = []
    kernel: Kernel | None = None

    def cell_timeout(cell: nbformat.NotebookNode) -> int:
        # The total limit is enforced cell by cell: each cell gets what is
        # left of it, so a notebook of many slow cells stops in time too.
        left = deadline - time.monotonic()
        return max(1, int(min(limits.cell_timeout, left) + 0.999))

    try:
        kernel = await pool.take()
        phase("start")
        client = kernel.client
        # nbclient stores each executed cell back into its notebook.
        client.nb = nb
        client.output_cap = limits.output_cap
        client.timeout_func = cell_timeout
        pid = kernel.pid
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if time.monotonic() >= deadline:
                return _stopped(
                    checks,
                    f"timed out: the notebook ran longer "
                    f"than {limits.timeout:g} s in all",
                    cell_errors,
                    notes,
                )
            running.append(index)
            try:
                await client.async_execute_cell(cell, index)
            except CellTimeoutError:
                limit = (
                    f"{limits.cell_timeout:g} s, the limit per cell"
                    if time.monotonic() < deadline
                    else f"the total limit of {limits.timeout:g} s"
                )
                reason = f"timed out: cell {index + 1} still ran after {limit}"
                return _stopped(checks, reason, cell_errors, notes)
            cell_errors += [
                _cell_error(index, o)
                for o in cell.outputs
                if o.get("output_type") == "error"
            ]
        phase("cells")
        marker = agent.new_marker()
        serve = nbformat.v4.new_code_cell(agent.serve_cell(marker))
        nb.cells.append(serve)
        running.append(-1)  # -1: the grader's own cell
        try:
            await client.async_execute_cell(
                serve, len(nb.cells) - 1, store_history=False
            )
        except CellTimeoutError:
            return _stopped(
                checks, "timed out while starting the app", cell_errors, notes
            )
        phase("serve")
        reply = agent.parse_reply(serve.outputs, marker)
        if reply.error == agent.NO_APP:
            return _stopped(checks, "no `app` defined", cell_errors, notes)
        if reply.port is None:
            detail = f": {reply.detail}" if reply.detail else ""
            return _stopped(checks, f"app did not start{detail}", cell_errors, notes)
        if not _port_owner_ok(pid, reply.port):
            reason = "app did not start: the reported port is not the kernel's"
            return _stopped(checks, reason, cell_errors, notes)
        url = f"http://127.0.0.1:{reply.port}"
        results = await asyncio.to_thread(_run_checks, checks, url, reply.secret_key)
        phase("checks")
        return Graded("graded", results, cell_errors, notes)
    except DeadKernelError:
        if not running:
            where = "start-up"
        elif running[-1] < 0:
            where = "the grader's cell that serves `app`"
        else:
            where = f"cell {running[-1] + 1}"
        return _stopped(
            checks, f"kernel died while running {where}", cell_errors, notes
        )
    finally:
        if kernel is not None:
            pool.release(kernel)
            notes += [
                f"cell {i + 1}: output beyond {limits.output_cap} characters was "
                "dropped by the grader"
                for i in kernel.client.truncated
            ]


def _stopped(
    checks: Sequence[Check],
    reason: str,
    cell_errors: list[str],
    notes: list[str] | None = None,
) -> Graded:
    notes = [] if notes is None else notes
    return Graded(reason, not_graded(checks, reason), cell_errors, notes)


async def grade_loaded(
    loaded: nbformat.NotebookNode | str,
    checks: Sequence[Check],
    limits: Limits,
    pool: KernelPool,
) -> Graded:
    """``grade_notebook`` for what ``load`` returned; never raises.

    A reason (a file that is not a notebook) needs no kernel.
    """
    start = time.perf_counter()
    if isinstance(loaded, str):
        graded = _stopped(checks, loaded, [])
    else:
        phases: dict[str, float] = {}
        try:
            graded = await grade_notebook(loaded, checks, limits, pool, phases)
        except Exception as exc:  # the batch goes on whatever happens
            reason = f"grading failed: {type(exc).__name__}: {exc}"[:300]
            graded = _stopped(checks, reason, [])
        graded.phases = phases
    graded.duration = time.perf_counter() - start
    return graded


def grade_submission(
    submission: Submission, checks: Sequence[Check], limits: Limits
) -> Graded:
    """Execute one submission in a kernel of its own and run ``checks``.

    Never raises; runs its own event loop (``grade_batch`` grades many,
    starting kernels ahead).
    """

    async def once() -> Graded:
        pool = KernelPool()
        try:
            return await grade_loaded(load(submission.path), checks, limits, pool)
        finally:
            await pool.close()

    start = time.perf_counter()
    graded = asyncio.run(once())
    graded.duration = time.perf_counter() - start
    return graded
