"""Runs a notebook's own test functions, inside a sandbox, one fork per run.

    python -m coursekit.grading.harness      (started by ``mutation``)

The grader sends, one JSON line each on stdin: first the notebook's code
cells, then runs: ``{"run": <random id>, "function": <name>, "socket":
<path>, "timeout": <seconds>}``. For each run the grader serves one app on
``socket`` (the reference, or one of its mutants: nothing in the request
says which); the harness answers one line ``{"run": ..., "outcome":
"passed" | "failed" | "timeout" | "crashed", "error": ...}``.

The cells are replayed as definitions only (imports, functions, classes,
assignments: what a test function needs, not the cells' checks, prints or
servers). Each run is a fresh fork of the process as it stood after the
replay, nothing at all is writable, no process may read another's memory,
and every other process is killed after each run: a test cannot remember
one run in the next, so it can only tell the reference from a mutant by how
the app behaves, which is what it is for.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

#: What a replayed cell keeps: the statements that define names.
_DEFINITIONS = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
)


def notebook_source(cell: str) -> str:
    """A code cell as Python: IPython's magics and shell escapes blanked."""
    lines = cell.splitlines()
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in lines
    )


def replay(cells: list[str], namespace: dict[str, Any]) -> None:
    """Run the definitions of ``cells`` in ``namespace``; errors are skipped."""
    for cell in cells:
        try:
            tree = ast.parse(notebook_source(cell))
        except SyntaxError:
            continue
        for statement in tree.body:
            if not isinstance(statement, _DEFINITIONS):
                continue
            module = ast.Module(body=[statement], type_ignores=[])
            # A statement that fails costs the names it would define, only.
            with contextlib.suppress(BaseException):
                exec(compile(module, "<notebook>", "exec"), namespace)


def _subreaper() -> None:
    # Processes a run leaves behind, however detached (a double fork, a new
    # session), become this process's children rather than init's: the
    # sweep finds them.
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _others() -> list[int]:
    """This process's descendants (with the subreaper set: all it started)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat_line = Path("/proc", name, "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: the fields after it.
        fields = stat_line.rsplit(")", 1)[1].split()
        parents[int(name)] = int(fields[1])
    found: list[int] = []
    frontier = [me]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def sweep() -> None:
    """Kill every process this one started, and theirs.

    Only descendants: without the sandbox there is no PID namespace, and
    the machine's other processes are none of the harness's business.
    """
    for _ in range(5):
        pids = _others()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.01)


def _child(function: Any, socket: str, result_fd: int) -> None:
    """In the fork: call the test against the app on ``socket``, report, exit."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, result_fd)
    os.closerange(result_fd + 1, 65536)
    outcome = {"outcome": "crashed", "error": "the harness failed"}
    try:
        import httpx

        from coursekit.contracts.learner_tests import call
        from coursekit.uds import unix_transport

        with httpx.Client(
            transport=unix_transport(socket), base_url="http://testserver", timeout=20
        ) as client:
            ran = call(
                function,
                client,
                lambda: httpx.AsyncClient(
                    transport=httpx.AsyncHTTPTransport(uds=socket, verify=False),
                    base_url="http://testserver",
                    timeout=20,
                ),
            )
        outcome = {"outcome": ran.outcome, "error": ran.error}
    except BaseException as exc:  # the test broke the harness itself
        outcome = {"outcome": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
    try:
        os.write(result_fd, json.dumps(outcome).encode())
    finally:
        os._exit(0)


def run_once(function: Any, socket: str, timeout: float) -> dict[str, str]:
    """One run of ``function`` in a fresh fork, within ``timeout`` seconds."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(function, socket, write_fd)
    os.close(write_fd)
    deadline = time.monotonic() + timeout
    status: int | None = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.005)
    else:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)
        return {"outcome": "timeout", "error": f"still running after {timeout:g} s"}
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    try:
        outcome = json.loads(data)
    except ValueError:
        return {"outcome": "crashed", "error": f"the test ended the process ({status})"}
    return outcome if isinstance(outcome, dict) else {"outcome": "crashed"}


def _not_dumpable() -> None:
    # Nothing of this process, nor of its forks, may be read or written by
    # another process of the same user (ptrace, /proc/<pid>/mem): a run
    # cannot reach into the harness to leave a note for the next one.
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


def main() -> int:
    _not_dumpable()
    _subreaper()
    # The protocol's channel, kept apart from what replayed code prints.
    protocol_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    # What every run needs, and what the cells will import anyway, imported
    # while the notebook still runs (the cells come when it has finished).
    for name in ("httpx", "fastapi", "pydantic", "coursekit.contracts.learner_tests"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    cells = json.loads(protocol_in.readline()).get("cells", [])
    namespace: dict[str, Any] = {"__name__": "__main__"}
    replay([str(cell) for cell in cells], namespace)
    sweep()
    functions = sorted(
        name
        for name, value in namespace.items()
        if name.startswith("test") and callable(value)
    )
    protocol_out.write(json.dumps({"ready": True, "functions": functions}) + "\n")
    protocol_out.flush()
    for line in protocol_in:
        request = json.loads(line)
        function = namespace.get(str(request.get("function")))
        if not callable(function):
            outcome = {"outcome": "missing"}
        else:
            outcome = run_once(
                function, str(request["socket"]), float(request.get("timeout", 10))
            )
        sweep()
        protocol_out.write(json.dumps({"run": request.get("run"), **outcome}) + "\n")
        protocol_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
