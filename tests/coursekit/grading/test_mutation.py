"""The learner's own tests, graded in their sandbox: honest ones and cheats.

Each case is a notebook's code that defines ``test_docs`` (chapter 01's docs
task: five mutants). A test earns a mutant by failing against it while
passing against the reference; the cheats below try to tell the runs apart
without looking at the app (a counter, a file, a process kept alive, the
harness itself) and must earn nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest

from coursekit.contracts.registry import checks_for
from coursekit.contracts.runner import CheckResult
from coursekit.grading import mutation, sandbox
from coursekit.grading.isolation import Isolation
from tests import system_packages

pytestmark = pytest.mark.slow

DOCS = checks_for("01", "docs")

HONEST = """\
import httpx

def test_docs(client: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200, page
        assert response.headers["content-type"].startswith("text/html"), page
    schema = client.get("/openapi.json").json()
    assert {"/", "/items/{item_id}"} <= set(schema["paths"]), schema["paths"]
    parameters = schema["paths"]["/items/{item_id}"]["get"]["parameters"]
    by_name = {parameter["name"]: parameter for parameter in parameters}
    item_id, q = by_name["item_id"], by_name["q"]
    assert item_id["in"] == "path" and item_id["required"], item_id
    assert item_id["schema"]["type"] == "integer", item_id
    assert q["in"] == "query" and not q.get("required", False), q
"""

#: Passes its first run only: the reference comes first.
COUNTER = """\
runs = []

def test_docs(client):
    runs.append(1)
    assert len(runs) == 1
"""

#: The same, remembering runs in a file.
FILE = """\
import pathlib

def test_docs(client):
    mark = pathlib.Path("runs.txt")
    seen = mark.read_text() if mark.exists() else ""
    mark.write_text(seen + "x")
    assert seen == ""
"""

#: The same, with a process that outlives a run and answers "seen before".
KEEPER = """\
import socket, subprocess, sys

KEEPER = '''
import socket
s = socket.socket(socket.AF_UNIX)
s.bind("\\\\0coursekit-keeper")
s.listen()
while True:
    s.accept()[0].close()
'''

def test_docs(client):
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect("\\0coursekit-keeper")
    except OSError:
        subprocess.Popen([sys.executable, "-c", KEEPER], start_new_session=True)
        import time; time.sleep(0.3)
        return
    raise AssertionError("seen before")
"""

#: Started while the cells are replayed: must not survive to the runs.
LEFTOVER = """\
import subprocess
keeper = subprocess.Popen(["sleep", "60"])

def test_docs(client):
    assert keeper.poll() is None, "the process was swept"
"""

#: Output that imitates the harness's protocol, while the cells replay.
NOISE = (
    """\
import os
os.write(1, b'{"ready": true, "functions": []}\\n')
print('{"run": "x", "outcome": "failed"}')
"""
    + HONEST
)

ASYNC = """\
async def test_docs(client):
    response = await client.get("/docs")
    assert response.status_code == 200
"""

NOT_AWAITED = """\
import asyncio

def test_docs(client):
    return asyncio.sleep(0)
"""

KILLS_THE_HARNESS = """\
import os, signal

def test_docs(client):
    os.kill(os.getppid(), signal.SIGKILL)
"""

HANGS = """\
import time

def test_docs(client):
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def isolation() -> Iterator[Isolation]:
    try:
        sandbox.bubblewrap()
    except sandbox.SandboxUnavailable as exc:
        if system_packages.ci():
            pytest.fail(f"the sandbox must be tested in CI: {exc}")
        pytest.skip(f"no sandbox here: {exc}")
    yield Isolation(mode="require", base=0)


def grade(isolation: Isolation, *cells: str) -> list[CheckResult]:
    return asyncio.run(mutation.grade_learner_tests(list(cells), DOCS, isolation))


def points(results: list[CheckResult]) -> int:
    return sum(r.points for r in results)


def test_an_honest_test_catches_every_mutant(isolation: Isolation) -> None:
    results = grade(isolation, HONEST)
    assert [r.status for r in results] == ["passed"] * len(DOCS)
    assert points(results) == sum(c.points for c in DOCS)


def test_protocol_lookalikes_printed_by_the_cells_change_nothing(
    isolation: Isolation,
) -> None:
    assert points(grade(isolation, NOISE)) == sum(c.points for c in DOCS)


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        # Each run is a fresh fork: the counter is 0 every time, so the test
        # passes everywhere and catches nothing.
        (COUNTER, "`test_docs` passes against an app where"),
        # Nothing is writable: it fails on the reference itself.
        (FILE, "fails against a correct app"),
        # Every process but the harness is killed after each run: the keeper
        # is never there, so this passes everywhere too.
        (KEEPER, "`test_docs` passes against an app where"),
        (LEFTOVER, "fails against a correct app"),
        (NOT_AWAITED, "fails against a correct app"),
    ],
    ids=["counter", "file", "keeper", "leftover", "not-awaited"],
)
def test_a_test_that_cannot_tell_the_apps_apart_earns_nothing(
    isolation: Isolation, cells: str, reason: str
) -> None:
    results = grade(isolation, cells)
    assert points(results) == 0
    assert all(reason in r.message for r in results), [r.message for r in results]


def test_the_reasons_are_the_learner_s_to_read(isolation: Isolation) -> None:
    [first, *_] = grade(isolation, FILE)
    assert "Read-only file system" in first.got or "Permission denied" in first.got
    [first, *_] = grade(isolation, NOT_AWAITED)
    assert "`async def`" in first.got


def test_an_async_test_gets_an_async_client(isolation: Isolation) -> None:
    # Over the same socket as a plain test: it catches the app without
    # Swagger UI, and only that one.
    results = {r.name: r for r in grade(isolation, ASYNC)}
    assert results["no_swagger_ui"].status == "passed"
    assert points(results.values()) == results["no_swagger_ui"].points


def test_a_test_that_kills_its_harness_earns_nothing_and_says_so(
    isolation: Isolation,
) -> None:
    results = grade(isolation, KILLS_THE_HARNESS)
    assert points(results) == 0
    assert "crashed" in results[0].got


def test_a_test_that_hangs_is_stopped(
    isolation: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mutation, "RUN_TIMEOUT", 2.0)
    results = grade(isolation, HANGS)
    assert points(results) == 0
    assert results[0].got.startswith("timeout: still running after 2 s")


def test_a_test_not_written_costs_no_sandbox(
    isolation: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sandbox(*args: object, **kwargs: object) -> None:
        raise AssertionError("a sandbox was started")

    monkeypatch.setattr(isolation, "confine", no_sandbox)
    results = grade(isolation, "raise NotImplementedError('Task docs')")
    assert points(results) == 0
    assert results[0].message == "no function `test_docs` in the notebook"


def test_without_the_sandbox_the_sweep_kills_only_what_the_tests_started() -> None:
    # No PID namespace here: the harness must not take the machine's other
    # processes for its own (this one stands for them).
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        results = grade(Isolation(mode="off", base=0), KEEPER)
        assert bystander.poll() is None, "the sweep killed a process not its own"
        # The keeper itself was swept after the first run all the same.
        assert points(results) == 0
    finally:
        bystander.kill()
        bystander.wait()
