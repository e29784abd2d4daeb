"""`coursekit grade --engine celery`: real Redis, real worker processes.

Everything runs on loopback: a durable ``redis-server`` (append-only file,
fsync on every write) as broker and result store, two ``coursekit
grade-worker`` processes, and the coordinating ``coursekit grade`` as a
command. The rows must be those of a local run of the same submissions;
a worker killed half way and a broker restarted lose nothing, and grade
nothing twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from grading_support import (
    GOOD,
    ITEMS_ROUTE,
    ROOT_ROUTE,
    read_csv,
    read_results,
    require_sandbox,
)
from grading_support import write_notebook as nb

from coursekit.contracts.registry import checks_for
from coursekit.grading.celery_app import (
    PROTOCOL,
    grade_payload,
    graded_from_json,
    graded_to_json,
    redact,
)
from coursekit.grading.cli import main as grade_main
from coursekit.grading.remote import RemoteError, _outcome
from coursekit.grading.submission import Graded, not_graded
from coursekit.services.base import free_port
from coursekit.services.redis import RedisServer, redis
from tests.servers import start_or_skip

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

PYTHON = sys.executable
#: Limits that catch a hang, far above what chapter 01 needs on a busy
#: machine. A task may then run 20 + 60 s, below the visibility timeout: a
#: dead worker's task goes to the other after 90 s, a slow one never does.
TIMEOUT = "20"
VISIBILITY = "90"
#: How long to wait for a worker to say it is ready, or for a batch.
START_LIMIT = 180.0
BATCH_LIMIT = 900.0

SLOW = "import time\ntime.sleep(4)"


@pytest.fixture(scope="module")
def bwrap() -> None:
    require_sandbox("the Celery workers, which grade in the sandbox,")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    with start_or_skip(lambda: redis(tmp_path / "redis", durable=True)) as server:
        yield server


class Worker:
    """A ``coursekit grade-worker`` process, in a process group of its own."""

    def __init__(self, url: str, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as output:
            self.process = self._start(url, output)

    def _start(self, url: str, output: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                PYTHON,
                "-m",
                "coursekit.cli",
                "grade-worker",
                "--broker",
                url,
                "--name",
                self.name,
                "--visibility-timeout",
                VISIBILITY,
                "--restore-interval",
                "2",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_LIMIT
        while f"{self.name} ready." not in self.text():
            assert self.process.poll() is None, self.text()
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the worker and its pool: a machine lost mid-task."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def graded(self) -> list[str]:
        """The submissions this worker finished, in order."""
        return re.findall(rf"{re.escape(self.name)}: graded (\S+) ", self.text())

    def grading(self) -> list[str]:
        """The submissions this worker began."""
        return re.findall(rf"{re.escape(self.name)}: grading (\S+) ", self.text())


@pytest.fixture
def workers(bwrap: None, broker: RedisServer, tmp_path: Path) -> Iterator[list[Worker]]:
    started = [
        Worker(broker.url, f"w{i}@loopback", tmp_path / f"worker-{i}.log")
        for i in (1, 2)
    ]
    try:
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.stop()


def _coordinator(url: str, subs: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "coursekit.cli",
            "grade",
            str(subs),
            "--out",
            str(out),
            "--engine",
            "celery",
            "--broker",
            url,
            "--visibility-timeout",
            VISIBILITY,
            "--timeout",
            TIMEOUT,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=BATCH_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"the batch did not finish in {BATCH_LIMIT:g} s:\n{err}")
    return process.returncode, err


#: What a row may differ in between two runs: times, and the fingerprint,
#: which a local run takes from this machine's isolation and a distributed
#: one from the workers' requirement (``--sandbox require``).
VARIES = {"duration", "phases", "fingerprint"}


def _rows(out: Path) -> dict[str, dict[str, Any]]:
    rows = read_results(out)
    for row in rows.values():
        for key in VARIES:
            row.pop(key, None)
        for result in row["results"]:
            result.pop("duration", None)
    return rows


def _grades(out: Path) -> dict[str, dict[str, str]]:
    _, rows = read_csv(out)
    return rows


def test_rows_are_those_of_a_local_run(
    workers: list[Worker], broker: RedisServer, tmp_path: Path
) -> None:
    subs = tmp_path / "subs"
    nb(subs / "01_good.ipynb", *GOOD)
    nb(subs / "01_no_items.ipynb", ROOT_ROUTE)
    nb(subs / "01_wrong_root.ipynb", ROOT_ROUTE.replace("Hello,", "Hi,"), ITEMS_ROUTE)
    nb(subs / "01_exits.ipynb", *GOOD, "import os\nos._exit(3)")
    nb(subs / "01_no_app.ipynb", "x = 1")
    (subs / "01_not_json.ipynb").write_text("print('hello')\n", encoding="utf-8")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "extra.py").write_text(
        "from coursekit.contracts.registry import check\n\n"
        "@check(task='root', points=1, hint='GET / answers 200')\n"
        "def hidden_root_answers(client):\n"
        "    assert client.get('/').status_code == 200\n",
        encoding="utf-8",
    )

    local = tmp_path / "local"
    with contextlib.redirect_stderr(sys.stdout):
        status = grade_main(
            [
                str(subs),
                "--out",
                str(local),
                "--timeout",
                TIMEOUT,
                "--sandbox",
                "require",
                "--hidden",
                str(hidden),
            ]
        )
    assert status == 0

    remote = tmp_path / "remote"
    process = _coordinator(broker.url, subs, remote, "--hidden", str(hidden))
    status, err = _finish(process)
    assert status == 0, err
    assert "grading on 2 Celery worker(s)" in err, err
    assert _rows(remote) == _rows(local)
    assert _grades(remote) == _grades(local)
    for name in _grades(local):
        stem = name.removesuffix(".ipynb")
        feedback = f"feedback/{stem}.txt"
        assert (remote / feedback).read_text() == (local / feedback).read_text()
    # The hidden check ran on the workers too.
    assert "hidden_root_answers" in str(read_results(remote)["01_good.ipynb"])
    # Both workers took part, and each submission was graded once.
    graded = Counter(name for w in workers for name in w.graded())
    assert set(graded.values()) == {1}, graded
    assert len(graded) == 6
    assert all(w.graded() for w in workers), [w.text()[-2000:] for w in workers]
    # A finished batch leaves nothing of its own in Redis.
    with broker.client() as client:
        assert client.keys("coursekit:*") == []
        assert client.keys("celery-task-meta-*") == []


def _wait_for(condition: Any, what: str, *logs: Worker) -> None:
    deadline = time.monotonic() + START_LIMIT
    while not condition():
        assert time.monotonic() < deadline, (what, [w.text()[-3000:] for w in logs])
        time.sleep(0.1)


def test_a_worker_killed_half_way_loses_nothing(
    workers: list[Worker], broker: RedisServer, tmp_path: Path
) -> None:
    subs = tmp_path / "subs"
    names = [f"01_learner{i}.ipynb" for i in range(6)]
    for name in names:
        nb(subs / name, *GOOD, SLOW)
    process = _coordinator(broker.url, subs, tmp_path / "out")
    first, second = workers
    # Killed while it grades: the submission in hand was begun, not finished.
    _wait_for(lambda: first.grading(), "the first worker to begin", first)
    first.kill()
    lost = [n for n in first.grading() if n not in first.graded()]
    status, err = _finish(process)
    assert status == 0, err
    assert lost, first.text()
    rows = _grades(tmp_path / "out")
    assert sorted(rows) == sorted(names)
    assert {r["status"] for r in rows.values()} == {"graded"}, rows
    # The survivor graded what was lost; nothing was graded twice.
    assert set(lost) <= set(second.graded()), second.text()
    graded = Counter(first.graded() + second.graded())
    assert sorted(graded) == sorted(names)
    assert set(graded.values()) == {1}, graded


def test_a_broker_restarted_mid_batch_loses_nothing(
    workers: list[Worker], broker: RedisServer, tmp_path: Path
) -> None:
    subs = tmp_path / "subs"
    names = [f"01_learner{i}.ipynb" for i in range(4)]
    for name in names:
        nb(subs / name, *GOOD, SLOW)
    out = tmp_path / "out"
    process = _coordinator(broker.url, subs, out)
    _wait_for(lambda: any(w.grading() for w in workers), "a worker to begin", *workers)
    broker.stop()
    time.sleep(3)
    broker.start()
    status, err = _finish(process)
    assert status == 0, err
    rows = _grades(out)
    assert sorted(rows) == sorted(names)
    assert {r["status"] for r in rows.values()} == {"graded"}, rows
    graded = Counter(name for w in workers for name in w.graded())
    assert sorted(graded) == sorted(names)
    assert set(graded.values()) == {1}, graded


def test_ctrl_c_stops_the_coordinator_with_what_was_graded(
    workers: list[Worker], broker: RedisServer, tmp_path: Path
) -> None:
    subs = tmp_path / "subs"
    for i in range(8):
        nb(subs / f"01_learner{i}.ipynb", *GOOD, SLOW)
    out = tmp_path / "out"
    process = _coordinator(broker.url, subs, out)
    _wait_for(
        lambda: (out / "results.json").exists() and len(read_results(out)) >= 1,
        "a first row",
        *workers,
    )
    process.send_signal(signal.SIGINT)
    status, err = _finish(process)
    assert status == 130, err
    assert "Traceback" not in err, err
    assert "interrupted" in err
    done = len(read_results(out))
    assert 1 <= done < 8
    # The workers drop the rest of the batch instead of grading it for
    # nobody: what they had begun they finish, the others they skip. (Graded
    # anyway, all 8 would have begun well within the wait.)
    _wait_for(
        lambda: any("'cancelled'" in w.text() for w in workers),
        "a worker to skip a task of the cancelled batch",
        *workers,
    )
    time.sleep(30)
    begun = sum(len(w.grading()) for w in workers)
    assert begun < 8, [w.text()[-2000:] for w in workers]


def _errors(*args: str) -> tuple[int, str]:
    result = subprocess.run(
        [PYTHON, "-m", "coursekit.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr


def test_an_unreachable_broker_is_said_clearly(tmp_path: Path) -> None:
    nb(tmp_path / "subs" / "01_a.ipynb", *GOOD)
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    status, err = _errors(
        "grade", str(tmp_path / "subs"), "--engine", "celery", "--broker", url
    )
    assert status == 2
    assert "cannot reach the broker at redis://:***@127.0.0.1" in err, err
    assert "secret" not in err
    status, err = _errors("grade-worker", "--broker", url)
    assert status == 2
    assert "cannot reach the broker" in err or "sandbox" in err, err


def test_bad_options_are_said_clearly(tmp_path: Path) -> None:
    nb(tmp_path / "subs" / "01_a.ipynb", *GOOD)
    subs = str(tmp_path / "subs")
    cases = {
        ("--engine", "celery"): "--engine celery needs --broker",
        ("--engine", "celery", "--broker", "http://x"): "must be a Redis URL",
        ("--engine", "celery", "--broker", "redis://x", "--sandbox", "off"): (
            "--sandbox off"
        ),
        ("--engine", "celery", "--broker", "redis://x", "--jobs", "2"): "--concurrency",
        (
            "--engine",
            "celery",
            "--broker",
            "redis://127.0.0.1:1/0",
            "--timeout",
            "300",
            "--visibility-timeout",
            "100",
        ): "visibility timeout",
    }
    env = {k: v for k, v in os.environ.items() if k != "COURSEKIT_BROKER"}
    for args, message in cases.items():
        result = subprocess.run(
            [PYTHON, "-m", "coursekit.cli", "grade", subs, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_no_worker_is_said_clearly(broker: RedisServer, tmp_path: Path) -> None:
    nb(tmp_path / "subs" / "01_a.ipynb", *GOOD)
    status, err = _errors(
        "grade",
        str(tmp_path / "subs"),
        "--out",
        str(tmp_path / "out"),
        "--engine",
        "celery",
        "--broker",
        broker.url,
        "--wait-workers",
        "3",
    )
    assert status == 2
    assert "no grading worker answered" in err, err
    assert "coursekit grade-worker --broker" in err


# -- the pieces, without processes ------------------------------------------


def test_a_worker_refuses_another_course() -> None:
    payload = {"protocol": PROTOCOL, "code": "another version"}
    assert "another version of the course" in grade_payload(payload)["refused"]
    assert "protocol" in grade_payload({"protocol": 0})["refused"]
    with pytest.raises(RemoteError, match="another version of the course"):
        _outcome(
            b'{"refused": "worker w runs another version of the course"}', None, [], 80
        )


def test_outcomes_survive_json() -> None:
    checks = list(checks_for("01"))
    graded = Graded("graded", not_graded(checks, "x"), notes=["n"], duration=1.5)
    graded.isolation_level = "full"
    assert graded_from_json(graded_to_json(graded)) == graded
    failure = b'{"status": "FAILURE", "result": {"exc_type": "TimeLimitExceeded"}}'
    timed_out = _outcome(None, failure, checks, 80)
    assert timed_out is not None and timed_out.status.startswith("timed out")
    assert _outcome(None, b'{"status": "STARTED"}', checks, 80) is None
    assert _outcome(None, None, checks, 80) is None


def test_redact_hides_passwords() -> None:
    assert redact("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact("redis://u:pw@h/0") == "redis://u:***@h/0"
    assert redact("redis://h/0") == "redis://h/0"
