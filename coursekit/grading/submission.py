"""One submission: find it, validate it, run it in an isolated kernel, grade it.

The notebook runs with ``allow_errors=True`` (a broken task must not cost the
later ones) under a limit per cell and one for all its cells, in a kernel of
its own (``kernels``, ``isolation``). What a submission does wrong costs what
it broke, not the rest:

- a cell that runs too long is interrupted and the notebook goes on with the
  next cell; a kernel that ignores the interrupt, or dies (``os._exit``,
  out of memory, too much disk), is replaced by a fresh one in which the
  cells that had run are run again, and the notebook goes on after the cell
  that stopped it (twice at most);
- when all the cells' time is used up, the rest are not run and the app is
  graded as it stands.

Then the grader's serve cell (``agent``) serves ``app`` on a Unix socket of
the kernel's folder and the checks run from this process, over that socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from coursekit.contracts.registry import Check
from coursekit.contracts.runner import CheckResult, run_check
from coursekit.contracts.stored import StoredFiles
from coursekit.grading import agent
from coursekit.grading.kernels import (
    Kernel,
    KernelPool,
    default_isolation,
    start_kernel,
)
from coursekit.grading.limits import MIB, ResourceLimits
from coursekit.grading.mutation import grade_learner_tests
from coursekit.grading.untrusted import one_line, quote
from coursekit.uds import unix_transport

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
#: Seconds the grader's own serve cell may take (the grader's time, not the
#: notebook's: an app whose startup hangs is reported as such).
SERVE_TIMEOUT = 30
#: How often the kernel's folder is measured while it runs.
_DISK_EVERY = 0.5
#: Kernels a submission may lose (stuck or dead) before it is given up.
_REPLACEMENTS = 2
#: The base URL of the checks' requests: the host part only, the socket
#: decides where they go.
_BASE_URL = "http://localhost"


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
    #: Seconds an interrupted cell gets to stop before its kernel is replaced.
    interrupt_grace: float = 5.0


@dataclass
class Graded:
    """The outcome of one submission."""

    status: str
    results: list[CheckResult]
    cell_errors: list[str] = field(default_factory=list)
    #: What the learner should know besides the checks (output cut, ...).
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0
    #: Seconds spent in each phase: start, cells, serve, checks.
    phases: dict[str, float] = field(default_factory=dict)
    #: What isolated the submission's kernel (``Confinement.mechanisms``).
    isolation: list[str] = field(default_factory=list)
    #: "full", or "weaker: ..." when graded elsewhere (a Celery worker); empty
    #: when the batch's own isolation applies.
    isolation_level: str = ""


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
        return one_line(f"not a notebook: {type(exc).__name__}: {first}")
    return nb


def _cell_error(index: int, output: dict[str, Any]) -> str:
    # The exception's name and message are the submission's words.
    name = one_line(str(output.get("ename")), 80)
    return f"cell {index + 1} raised {name}: {quote(str(output.get('evalue')))}"


class _Stop(Exception):
    """The notebook cannot go on; the message is the row's status."""


class _Execution:
    """Runs a notebook's cells in kernels from a pool, surviving what it can."""

    def __init__(
        self,
        nb: nbformat.NotebookNode,
        limits: Limits,
        resources: ResourceLimits,
        pool: KernelPool,
    ) -> None:
        self.nb = nb
        self.limits = limits
        self.resources = resources
        self.pool = pool
        # The notebook's own time: it starts once its first kernel is ready
        # (a busy grader's start-ups are not the submission's).
        self.deadline = float("inf")
        self.kernel: Kernel | None = None
        self.kernels: list[Kernel] = []
        #: Indexes of the code cells that finished, in order (replayed into a
        #: fresh kernel when one is lost).
        self.ran: list[int] = []
        self.cell_errors: list[str] = []
        self.notes: list[str] = []
        self.running: int | None = None
        self._disk_exceeded = False
        self._watch: asyncio.Task[None] | None = None

    # -- kernels -------------------------------------------------------------

    def _timeout_for(self, cell: nbformat.NotebookNode) -> int:
        # Each cell gets what is left of the total, so a notebook of many
        # slow cells stops in time too.
        left = self.deadline - time.monotonic()
        return max(1, int(min(self.limits.cell_timeout, left) + 0.999))

    async def take_kernel(self) -> Kernel:
        kernel = await self.pool.take()
        self.kernels.append(kernel)
        client = kernel.client
        # nbclient stores each executed cell back into its notebook.
        client.nb = self.nb
        client.output_cap = self.limits.output_cap
        client.timeout_func = self._timeout_for
        self.kernel = kernel
        self._disk_exceeded = False
        self._watch = asyncio.ensure_future(self._watch_disk(kernel))
        return kernel

    async def _watch_disk(self, kernel: Kernel) -> None:
        limit = self.resources.disk
        while True:
            await asyncio.sleep(_DISK_EVERY)
            used = await asyncio.to_thread(kernel.confinement.disk_used, limit)
            if used > limit:
                self._disk_exceeded = True
                km = kernel.client.km
                if km is not None:
                    with contextlib.suppress(Exception):
                        await km.shutdown_kernel(now=True)
                return

    def release(self) -> None:
        """Stop watching and shut down every kernel used (in the background)."""
        if self._watch is not None:
            self._watch.cancel()
        for kernel in self.kernels:
            self.pool.release(kernel)
        self.kernels.clear()

    def _death(self, kernel: Kernel) -> str:
        """Why ``kernel`` died, as the learner should read it."""
        if self._disk_exceeded:
            return f"wrote more than {self.resources.disk // MIB} MiB of files"
        if kernel.confinement.oom_killed():
            return (
                f"ran out of memory (the limit is {self.resources.memory // MIB} MiB)"
            )
        status = kernel.exit_status()
        # bubblewrap reports its child's death by signal N as status 128+N.
        signum = -status if status is not None and status < 0 else None
        if status is not None and status > 128:
            signum = status - 128
        if signum == signal.SIGXCPU:
            return f"used more than {self.resources.cpu_seconds} s of CPU"
        if signum == signal.SIGXFSZ:
            return f"wrote a file larger than {self.resources.file_size // MIB} MiB"
        if signum is not None:
            return f"the kernel was killed by signal {signum}"
        if status is not None:
            return f"the kernel exited with status {status}"
        return "the kernel died"

    # -- cells ---------------------------------------------------------------

    async def _execute(self, index: int) -> str:
        """Run code cell ``index``: "ok", "stopped", "stuck" or "died"."""
        assert self.kernel is not None
        cell = self.nb.cells[index]
        self.running = index
        try:
            await self.kernel.client.async_execute_cell(cell, index)
        except CellTimeoutError:
            await self.kernel.interrupt()
            if await self._responsive():
                return "stopped"
            return "stuck"
        except DeadKernelError:
            return "died"
        finally:
            self.running = None
        self.cell_errors += [
            _cell_error(index, output)
            for output in cell.outputs
            if output.get("output_type") == "error"
        ]
        return "ok"

    async def _responsive(self) -> bool:
        """Whether the kernel answers again within the grace after an interrupt.

        An empty request is answered only once the interrupted cell has
        stopped: the kernel runs one request at a time.
        """
        assert self.kernel is not None
        kc = self.kernel.client.kc
        if kc is None:
            return False
        deadline = time.monotonic() + self.limits.interrupt_grace
        try:
            msg_id = kc.execute("", silent=True, store_history=False)
            while (left := deadline - time.monotonic()) > 0:
                reply = await kc.get_shell_msg(timeout=left)
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    return True
        except Exception:  # no answer in time (queue.Empty), or the kernel died
            return False
        return False

    async def _replace(self, reason: str) -> None:
        """A fresh kernel in which the cells that had run are run again."""
        assert self.kernel is not None
        lost = self.kernel
        if self._watch is not None:
            self._watch.cancel()
        self.pool.release(lost)
        self.kernels.remove(lost)
        waited = time.monotonic()
        kernel = await self.take_kernel()
        # Waiting for a kernel is the grader's time, not the notebook's.
        self.deadline += time.monotonic() - waited
        for index in self.ran:
            if time.monotonic() >= self.deadline:
                raise _Stop(f"{reason}, and no time was left to run the cells again")
            # A copy: the saved outputs stay those of the first run.
            copy = nbformat.v4.new_code_cell(self.nb.cells[index].source)
            try:
                await kernel.client.async_execute_cell(copy, index)
            except (CellTimeoutError, DeadKernelError):
                raise _Stop(
                    f"{reason}, and cell {index + 1} did not run again in a "
                    "fresh kernel"
                ) from None

    async def run(self) -> None:
        """Run every code cell; raises ``_Stop`` when the notebook cannot go on."""
        self.deadline = time.monotonic() + self.limits.timeout
        codes = [i for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]
        replacements = _REPLACEMENTS
        for position, index in enumerate(codes):
            if time.monotonic() >= self.deadline:
                rest = ", ".join(str(i + 1) for i in codes[position:])
                self.notes.append(
                    f"the notebook used up its {self.limits.timeout:g} s: cells "
                    f"{rest} were not run; the app was graded as it stood"
                )
                return
            outcome = await self._execute(index)
            if outcome == "ok":
                self.ran.append(index)
                continue
            limit = (
                f"{self.limits.cell_timeout:g} s, the limit per cell"
                if time.monotonic() < self.deadline
                else f"the total limit of {self.limits.timeout:g} s"
            )
            if outcome == "stopped":
                self.cell_errors.append(
                    f"cell {index + 1} was interrupted after {limit}"
                )
                continue
            assert self.kernel is not None
            if outcome == "stuck":
                reason = (
                    f"cell {index + 1} ran longer than {limit}, and did not stop "
                    "when interrupted"
                )
            else:
                reason = f"cell {index + 1}: {self._death(self.kernel)}"
            self.cell_errors.append(reason)
            if replacements == 0:
                raise _Stop(f"{reason} (kernels lost: {_REPLACEMENTS + 1})")
            replacements -= 1
            await self._replace(reason)
            self.notes.append(
                f"{reason}: the grader ran cells before it again in a fresh "
                "kernel and went on without it"
            )


def _answers(socket: Path) -> bool:
    """Whether an HTTP server answers on the Unix socket (any status)."""
    transport = unix_transport(str(socket))
    try:
        with httpx.Client(transport=transport, base_url=_BASE_URL, timeout=10) as c:
            c.get("/")
    except httpx.HTTPError:
        return False
    return True


def _run_checks(
    checks: Sequence[Check],
    socket: Path,
    secret_key: str | None,
    box: Path,
    redis_url: str | None = None,
) -> list[CheckResult]:
    # What the app stored, read from outside its sandbox: it cannot fake it.
    files = StoredFiles([box])
    return [
        run_check(
            c,
            _BASE_URL,
            secret_key=secret_key,
            uds=str(socket),
            files=files,
            redis_url=redis_url,
        )
        for c in checks
    ]


async def grade_notebook(
    nb: nbformat.NotebookNode,
    checks: Sequence[Check],
    limits: Limits,
    pool: KernelPool,
    phases: dict[str, float] | None = None,
    *,
    resources: ResourceLimits | None = None,
) -> Graded:
    """Run ``nb`` in a kernel from ``pool``, serve its app, run ``checks``.

    The kernels serve this notebook only; they are released (shut down,
    their processes swept, their folders deleted) on the way out, whichever
    way that is. ``phases`` gets the seconds spent waiting for the kernel,
    running the cells, serving the app and running the checks.
    """
    phases = {} if phases is None else phases
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(phases.get(name, 0.0) + now - mark, 3)
        mark = now

    run = _Execution(nb, limits, resources or ResourceLimits(), pool)
    isolation: list[str] = []
    # The cells as submitted, by index: the learner's tests are replayed
    # from them.
    sources = {i: c.source for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    served_checks = [c for c in checks if not c.is_mutant]
    mutants = [c for c in checks if c.is_mutant]
    tests: asyncio.Future[list[CheckResult]] | None = None

    def stopped(reason: str) -> Graded:
        graded = _stopped(checks, reason, run.cell_errors, run.notes)
        graded.isolation = isolation
        return graded

    try:
        kernel = await run.take_kernel()
        isolation = kernel.mechanisms
        if kernel.redis_url is None and any(c.needs_redis for c in served_checks):
            # Skipped checks would read as a score of 0 the code did not earn.
            return stopped(
                "not graded: the checks look into the app's Redis, and the "
                "grader gave this kernel none (grade with an isolation that "
                "starts one: coursekit grade does)"
            )
        # The learner's own tests: their sandbox starts now and waits for
        # the cells that ran to their end (not one that hung or killed its
        # kernel), which it replays.
        finished: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        tests = asyncio.ensure_future(
            grade_learner_tests(
                finished,
                mutants,
                kernel.confinement.isolation,
                written=list(sources.values()),
            )
        )
        phase("start")
        try:
            await run.run()
        except _Stop as exc:
            return stopped(str(exc))
        phase("cells")
        finished.set_result([sources[i] for i in run.ran])
        kernel = run.kernel
        assert kernel is not None
        socket = kernel.confinement.app_socket
        marker = agent.new_marker()
        serve = nbformat.v4.new_code_cell(agent.serve_cell(marker, str(socket)))
        nb.cells.append(serve)
        kernel.client.timeout_func = lambda cell: SERVE_TIMEOUT
        try:
            await kernel.client.async_execute_cell(
                serve, len(nb.cells) - 1, store_history=False
            )
        except CellTimeoutError:
            return stopped("the app did not start: its startup still ran after 30 s")
        except DeadKernelError:
            reason = run._death(kernel)
            return stopped(f"the kernel died while the grader served `app`: {reason}")
        phase("serve")
        reply = agent.parse_reply(serve.outputs, marker)
        if reply.error == agent.NO_APP:
            return stopped("no `app` defined")
        if not reply.served:
            detail = f": {quote(reply.detail)}" if reply.detail else ""
            return stopped(f"the app did not start{detail}")
        if not await asyncio.to_thread(_answers, socket):
            # The kernel said it served, but nothing does (coursekit.serve
            # replaced by the notebook, a server that stopped).
            return stopped("the app did not start: nothing answers on its socket")
        # The app's checks and the learner's own tests, side by side.
        http, tested = await asyncio.gather(
            asyncio.to_thread(
                _run_checks,
                served_checks,
                socket,
                reply.secret_key,
                kernel.confinement.box,
                kernel.redis_url,
            ),
            tests,
        )
        by_id = {r.id: r for r in [*http, *tested]}
        results = [by_id[c.id] for c in checks]
        phase("checks")
        graded = Graded("graded", results, run.cell_errors, run.notes)
        graded.isolation = isolation
        return graded
    finally:
        if tests is not None and not tests.done():
            tests.cancel()
            with contextlib.suppress(BaseException):
                await tests
        for used in run.kernels:
            run.notes += _truncation_notes(used, limits)
        run.release()


def _truncation_notes(kernel: Kernel, limits: Limits) -> list[str]:
    return [
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
    *,
    resources: ResourceLimits | None = None,
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
            graded = await grade_notebook(
                loaded, checks, limits, pool, phases, resources=resources
            )
        except Exception as exc:  # the batch goes on whatever happens
            reason = one_line(f"grading failed: {type(exc).__name__}: {exc}")
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
        # A chapter whose checks look into the app's Redis gets one per kernel.
        redis = any(c.needs_redis for c in checks)
        pool = KernelPool(
            starter=partial(start_kernel, isolation=default_isolation(redis=redis))
        )
        try:
            return await grade_loaded(load(submission.path), checks, limits, pool)
        finally:
            await pool.close()

    start = time.perf_counter()
    graded = asyncio.run(once())
    graded.duration = time.perf_counter() - start
    return graded
