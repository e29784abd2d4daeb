"""Kernels for grading: each started for exactly one submission, some ahead.

A kernel takes about half a second of CPU to start, and importing FastAPI in
it as much again. ``KernelPool`` starts the next submission's kernel (and
those imports) while the current submission runs, so the grader rarely waits
for a start-up. Nothing is shared between submissions: every kernel gets a
fresh temporary folder (working folder ``cwd/``, ``TMPDIR`` ``tmp/``, its IPC
sockets) and ``COURSEKIT_GRADING`` when it starts, serves one submission, and
is then shut down and its folder deleted. A kernel is never handed out twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from coursekit.check import GRADING_ENV
from coursekit.contracts.runner import REDIS_URL_ENV
from coursekit.grading.isolation import Confinement, Isolation, remove_tree
from coursekit.notebooks import ipc_kernel_config

__all__ = [
    "PRELOAD",
    "Kernel",
    "KernelPool",
    "SandboxedKernelManager",
    "start_kernel",
]

log = logging.getLogger(__name__)

#: Modules that every graded kernel imports anyway: the grader's serve cell
#: needs ``coursekit.serve``, and every submission's app is a FastAPI one. A
#: kernel started ahead imports them while it waits for its submission.
PRELOAD = ("fastapi", "coursekit.serve")

# Silent (no execution count, no history) and leaves no name behind.
_PRELOAD_CODE = """\
def _coursekit_preload(names):
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
_coursekit_preload(%r)
del _coursekit_preload
"""
#: Seconds the preloading may take before the kernel is used anyway.
_PRELOAD_TIMEOUT = 60.0


_QUIET = logging.getLogger("coursekit.grading.nbclient")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class CappedClient(NotebookClient):
    """nbclient, dropping a cell's output beyond ``output_cap`` characters."""

    output_cap = 100_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # nbclient logs a cell's timeout as an error; the grader reports it
        # in the submission's row instead of on the instructor's terminal.
        self.log = _QUIET
        self._sizes: dict[int, int] = {}
        #: The indexes of the cells whose output was cut.
        self.truncated: list[int] = []

    def output(
        self,
        outs: list[nbformat.NotebookNode],
        msg: dict[str, Any],
        display_id: str | None,
        cell_index: int,
    ) -> nbformat.NotebookNode | None:
        # Checked as each message arrives: a cell printing in a loop must
        # not fill the grader's memory before the cell ends.
        size = len(str(msg.get("content", "")))
        used = self._sizes.get(cell_index, 0)
        self._sizes[cell_index] = used + size
        if used + size <= self.output_cap:
            return super().output(outs, msg, display_id, cell_index)
        if used <= self.output_cap:
            self.truncated.append(cell_index)
        return None


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel inside a ``Confinement``.

    The kernel's command line is wrapped in the sandbox, and interrupts go
    as messages on the control channel: a SIGINT to the kernel's process
    group would reach bubblewrap, which dies of it, taking the kernel along.
    """

    confinement: Confinement | None = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        if self.confinement is None:
            return command
        # Written just before this is called; the kernel's user must read it.
        self.confinement.hand_over(Path(self.connection_file))
        return self.confinement.wrap(command)

    @property
    def kernel_spec(self) -> KernelSpec | None:
        spec = super().kernel_spec
        if spec is not None and self.confinement is not None:
            spec.interrupt_mode = "message"
        return spec


class Kernel:
    """A running kernel, its client, and the confinement it runs in."""

    def __init__(
        self, client: CappedClient, folder: Path, confinement: Confinement
    ) -> None:
        self.client = client
        self.folder = folder
        self.confinement = confinement
        self._stopped = False

    @property
    def cwd(self) -> Path:
        """The kernel's working folder (empty when it started)."""
        return self.confinement.cwd

    @property
    def mechanisms(self) -> list[str]:
        """What isolates this kernel, for the record of its result."""
        return self.confinement.mechanisms

    @property
    def redis_url(self) -> str | None:
        """The URL the checks reach the kernel's own Redis at (None: it has none)."""
        redis = self.confinement.redis
        return None if redis is None else redis.grader_url

    @property
    def pid(self) -> int | None:
        """The process the kernel was started as (bubblewrap, in the sandbox)."""
        km = self.client.km
        process = getattr(getattr(km, "provisioner", None), "process", None)
        return getattr(process, "pid", None)

    async def alive(self) -> bool:
        km = self.client.km
        return km is not None and bool(await km.is_alive())

    def exit_status(self) -> int | None:
        """The kernel process's exit status once it has ended (else None)."""
        km = self.client.km
        process = getattr(getattr(km, "provisioner", None), "process", None)
        return None if process is None else process.poll()

    async def interrupt(self) -> None:
        """Ask the kernel to interrupt the cell it runs (KeyboardInterrupt)."""
        km = self.client.km
        if km is not None:
            with contextlib.suppress(Exception):
                await km.interrupt_kernel()

    async def shutdown(self) -> None:
        """Stop the kernel at once, sweep its processes, delete its folder.

        Safe to call twice.
        """
        if self._stopped:
            return
        self._stopped = True
        client = self.client
        km, kc = client.km, client.kc
        try:
            if km is not None:
                try:
                    if await km.is_alive():
                        await km.shutdown_kernel(now=True)
                except RuntimeError as exc:  # already gone
                    if "No kernel is running" not in str(exc):
                        raise
                finally:
                    await km.cleanup_resources()
        finally:
            if kc is not None:
                kc.stop_channels()
            client.km = client.kc = None
            await asyncio.to_thread(self.confinement.remove)


def work_folder() -> Path:
    """Where kernels' folders go: ``COURSEKIT_GRADE_TMP``, else a temp folder.

    On Linux ``/var/tmp``, because a sandbox's ``/tmp`` leads into the
    kernel's own folder, which therefore cannot be under ``/tmp`` itself.
    """
    named = os.environ.get("COURSEKIT_GRADE_TMP")
    if named:
        return Path(named)
    var_tmp = Path("/var/tmp")
    if sys.platform.startswith("linux") and os.access(var_tmp, os.W_OK | os.X_OK):
        return var_tmp
    return Path(tempfile.gettempdir())


@functools.cache
def default_isolation(*, redis: bool = False) -> Isolation:
    """The isolation of kernels started without one: the sandbox if possible.

    ``redis``: each kernel gets a Redis of its own (see ``Isolation``).
    """
    return Isolation(mode="auto", base=0, env={GRADING_ENV: "1"}, redis=redis)


async def start_kernel(
    *,
    isolation: Isolation | None = None,
    preload: tuple[str, ...] = PRELOAD,
) -> Kernel:
    """A ready kernel in a fresh, isolated folder, with ``preload`` imported.

    ``isolation`` defaults to ``default_isolation()``.

    Raises whatever starting it raised (after cleaning up), e.g.
    ``DeadKernelError`` or ``RuntimeError`` for a kernel that died at once.
    """
    isolation = isolation or default_isolation()
    folder = Path(tempfile.mkdtemp(prefix="coursekit-grade-", dir=work_folder()))
    try:
        confinement = await asyncio.to_thread(isolation.confine, folder)
    except BaseException:
        remove_tree(folder)
        raise
    client = CappedClient(
        nbformat.v4.new_notebook(),
        config=ipc_kernel_config(confinement.ipc),
        kernel_name="python3",
        kernel_manager_class=SandboxedKernelManager,
        allow_errors=True,
        record_timing=False,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(confinement.cwd)}},
    )
    kernel = Kernel(client, folder, confinement)
    try:
        extra_env: dict[str, str] = {}
        if isolation.redis:
            # Before the kernel: its REDIS_URL is in its environment from the
            # start, and its sandbox shows the Redis's folder.
            redis = await confinement.start_redis()
            extra_env[REDIS_URL_ENV] = redis.app_url
        km = client.create_kernel_manager()
        assert isinstance(km, SandboxedKernelManager)
        km.confinement = confinement
        km.connection_file = str(confinement.ipc / "kernel.json")
        client.km = km
        # The kernel's own output (ipykernel's messages, a crash) goes to a
        # log outside its box, never to the grader's terminal.
        with (folder / "kernel.log").open("wb") as log:
            await client.async_start_new_kernel(
                env=confinement.env(extra_env),
                cwd=str(confinement.cwd),
                # No parent-pid watch: inside its PID namespace the kernel's
                # parent is pid 1, which ipykernel would take for "orphaned".
                independent=True,
                preexec_fn=confinement.preexec(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        confinement.launched()
        # Waits for the kernel's first reply (it shuts the kernel down and
        # raises when there is none).
        await client.async_start_new_kernel_client()
        if preload and client.kc is not None:
            with contextlib.suppress(Exception):  # only ever a head start
                await client.kc.execute_interactive(
                    _PRELOAD_CODE % (preload,),
                    silent=True,
                    store_history=False,
                    timeout=_PRELOAD_TIMEOUT,
                    output_hook=lambda msg: None,
                )
    except RuntimeError as exc:
        # "Kernel died before replying": what it said (a sandbox that could
        # not be set up, a broken environment) is in its log, which goes
        # with its folder.
        said = _last_words(folder / "kernel.log")
        await asyncio.shield(kernel.shutdown())
        if said:
            raise RuntimeError(f"{exc}; the kernel's last output: {said}") from exc
        raise
    except BaseException:
        await asyncio.shield(kernel.shutdown())
        raise
    return kernel


def _last_words(log: Path, limit: int = 300) -> str:
    """The last non-empty line of a kernel's log, clipped ("" when none)."""
    try:
        text = log.read_bytes()[-4096:].decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


class KernelPool:
    """Hands out ready kernels, one per submission, starting the next ahead.

    It lives in one event loop (a grading thread's). ``want_spare()`` is
    asked after each ``take()``: when it says yes, another kernel starts in
    the background for the next submission. ``close()`` shuts down whatever
    was not taken, and waits for the kernels being shut down.
    """

    def __init__(
        self,
        want_spare: Callable[[], bool] = lambda: False,
        *,
        starter: Callable[[], Any] = start_kernel,
    ) -> None:
        self._want_spare = want_spare
        self._start = starter
        self._spares: list[asyncio.Task[Kernel]] = []
        self._stopping: set[asyncio.Task[None]] = set()
        #: Kernels started ahead that had died by the time they were needed.
        self.replaced = 0

    @property
    def has_spare(self) -> bool:
        """True when the next ``take()`` gets a kernel started ahead."""
        return bool(self._spares)

    async def take(self) -> Kernel:
        """A ready kernel that nothing else has used or will use.

        A kernel started ahead that failed to start, or died while it
        waited, is replaced by one started now; if that fails too, the
        error is raised.
        """
        kernel: Kernel | None = None
        if self._spares:
            spare = self._spares.pop(0)
            try:
                kernel = await spare
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("a kernel started ahead failed (%s); starting another", exc)
                self.replaced += 1
            else:
                if not await kernel.alive():
                    log.warning("a kernel started ahead died; starting another")
                    self.replaced += 1
                    self.release(kernel)
                    kernel = None
        if kernel is None:
            kernel = await self._start()
        if self._want_spare():
            self._spares.append(asyncio.ensure_future(self._start()))
        return kernel

    def release(self, kernel: Kernel) -> None:
        """Shut ``kernel`` down in the background; it is never handed out again."""
        task = asyncio.ensure_future(kernel.shutdown())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def close(self) -> None:
        """Shut down the kernels not taken and wait for every shutdown."""
        spares, self._spares = self._spares, []
        for task in spares:
            task.cancel()  # start_kernel cleans up after itself
        for task in spares:
            with contextlib.suppress(BaseException):
                kernel = await task
                self.release(kernel)
        while self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
