"""The grader's side of mutation testing: apps served here, tests run in a sandbox.

For each test function a chapter asks for, the grader builds the reference
and each of the task's mutants (fresh, so no run sees another's data), and
serves each on a Unix socket of its own, in this process: the apps are the
course's code, not the submission's. The submission's test functions run in
``harness``, in a sandbox of their own in which nothing is writable, each
run a fresh fork. One app at a time is linked to the one socket path the
harness knows: the reference first (a test that fails on it is worth
nothing, and its mutants are not run), then the mutants in an order drawn
at random. A test can only tell them apart by how they behave.

A test function the notebook does not even define costs no sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coursekit.contracts import learner_tests
from coursekit.contracts.learner_tests import Outcome
from coursekit.contracts.registry import Check
from coursekit.contracts.runner import CheckResult
from coursekit.grading.isolation import Isolation, remove_tree

__all__ = ["grade_learner_tests"]

#: Seconds the harness may take to replay the notebook's definitions.
READY_TIMEOUT = 60.0
#: Seconds one run of a learner's test may take: a limit that catches a
#: test that hangs, wide enough for a machine grading several at once (the
#: course's tests take well under a second).
RUN_TIMEOUT = 30.0


def _serve(app: Any, socket: Path) -> Any:
    from coursekit.serve import serve

    name = f"coursekit-mutant-{secrets.token_hex(6)}"
    server = serve(app, name=name, show=False, uds=str(socket))
    # Connecting takes write permission on the socket, and the harness runs
    # as a user of its own; the folder it sits in is the grader's alone.
    socket.chmod(0o666)
    return server


async def _line(stream: asyncio.StreamReader, timeout: float) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), timeout)
    if not raw:
        raise EOFError("the harness ended")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a reply")
    return data


async def grade_learner_tests(
    cells: Sequence[str] | Awaitable[Sequence[str]],
    checks: Sequence[Check],
    isolation: Isolation,
    *,
    written: Sequence[str] = (),
) -> list[CheckResult]:
    """The results of ``checks``' mutants for the test functions of ``cells``.

    ``cells`` are the code cells to replay, or an awaitable of them: the
    sandbox then starts (and imports what every run needs) while the
    notebook still runs, and waits for them. ``written`` are all the cells
    as submitted: a test function none of them defines costs no sandbox.

    Never raises: a harness that fails, hangs or lies about its protocol
    fails the tests it did not run.
    """
    groups = learner_tests.by_function(checks)
    if not groups:
        return []
    chapter = next(iter(groups.values()))[0].chapter
    defined = _defined_functions(
        written or (cells if isinstance(cells, Sequence) else ())
    )
    missing = Outcome("missing")
    found: list[CheckResult] = []
    for function in [f for f in groups if f not in defined]:
        # Not even written (an exercise as released): no sandbox to start.
        found += learner_tests.results(groups.pop(function), missing, {})
    if not groups:
        return found
    from coursekit.grading.kernels import work_folder

    folder = Path(tempfile.mkdtemp(prefix="coursekit-tests-", dir=work_folder()))
    servers: list[Any] = []
    process: asyncio.subprocess.Process | None = None
    confinement = None
    try:
        confinement = await asyncio.to_thread(isolation.confine, folder / "harness")
        link = confinement.box / "app" / "app.sock"
        # Every run's app, built and served before the harness starts. Each
        # run is a fresh fork of the same process in a sandbox where nothing
        # is writable, so no run can learn from another; the mutants' order
        # is drawn at random all the same.
        runs: dict[str, list[tuple[str | None, Path]]] = {}
        sockets = folder / "servers"
        sockets.mkdir()
        for function, group in groups.items():
            mutants = list(group)
            random.SystemRandom().shuffle(mutants)
            for check in [None, *mutants]:
                app = (
                    learner_tests.reference_app(chapter)
                    if check is None
                    else check.func()
                )
                socket = sockets / f"{secrets.token_hex(8)}.sock"
                servers.append(await asyncio.to_thread(_serve, app, socket))
                name = None if check is None else check.name
                runs.setdefault(function, []).append((name, socket))
        command = confinement.wrap(
            [sys.executable, "-m", "coursekit.grading.harness"], writable=False
        )
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=confinement.env(),
            cwd=str(confinement.cwd),
            preexec_fn=confinement.preexec(),
            start_new_session=True,
        )
        confinement.launched()
        assert process.stdin is not None and process.stdout is not None
        if not isinstance(cells, Sequence):
            cells = await cells
        process.stdin.write((json.dumps({"cells": list(cells)}) + "\n").encode())
        await process.stdin.drain()
        ready = await _line(process.stdout, READY_TIMEOUT)
        if ready.get("ready") is not True:
            raise ValueError("the harness did not get ready")
        for function, group in groups.items():
            outcomes: dict[str | None, Outcome] = {}
            for name, socket in runs[function]:
                if name is not None and not outcomes[None].passed:
                    break  # failing on correct code, it is worth nothing
                outcomes[name] = await _run(process, function, socket, link)
            reference = outcomes.pop(None)
            found += learner_tests.results(group, reference, outcomes)
        return found
    except Exception as exc:
        done = {result.id for result in found}
        left = {f: [c for c in g if c.id not in done] for f, g in groups.items()}
        return found + _failed(left, f"{type(exc).__name__}: {exc}")
    finally:
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        await asyncio.to_thread(_stop, servers)
        if confinement is not None:
            await asyncio.to_thread(confinement.remove)
        remove_tree(folder)


async def _run(
    process: asyncio.subprocess.Process, function: str, socket: Path, link: Path
) -> Outcome:
    """One run: ``socket``'s app linked where the harness looks, then its test."""
    assert process.stdin is not None and process.stdout is not None
    run_id = secrets.token_hex(8)
    os.link(socket, link)
    try:
        request = {"run": run_id, "function": function, "socket": str(link)}
        request["timeout"] = RUN_TIMEOUT
        process.stdin.write((json.dumps(request) + "\n").encode())
        await process.stdin.drain()
        reply = await _line(process.stdout, RUN_TIMEOUT + 10)
    finally:
        link.unlink(missing_ok=True)
    if reply.get("run") != run_id:
        raise ValueError("the harness answered another run")
    return Outcome(
        str(reply.get("outcome", "crashed")), str(reply.get("error", ""))[:500]
    )


def _defined_functions(cells: Sequence[str]) -> set[str]:
    """The names of the top-level functions the cells define."""
    import ast

    from coursekit.grading.harness import notebook_source

    names: set[str] = set()
    for cell in cells:
        try:
            tree = ast.parse(notebook_source(cell))
        except SyntaxError:
            continue
        names |= {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
    return names


def _stop(servers: list[Any]) -> None:
    # uvicorn takes a tenth of a second to stop: all of them at once.
    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        list(pool.map(lambda server: server.stop(), servers))


def _failed(groups: dict[str, list[Check]], reason: str) -> list[CheckResult]:
    found: list[CheckResult] = []
    for group in groups.values():
        crashed = Outcome("crashed", f"the notebook's tests could not be run: {reason}")
        found += learner_tests.results(group, crashed, {})
    return found
