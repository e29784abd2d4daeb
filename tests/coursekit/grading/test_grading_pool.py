"""Kernels started ahead: one per submission, nothing shared, none left over."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from grading_support import GOOD, read_csv, read_results, write_notebook

from coursekit.contracts.registry import checks_for
from coursekit.grading import batch
from coursekit.grading.batch import GradeSettings, grade_batch
from coursekit.grading.cli import main
from coursekit.grading.kernels import KernelPool
from coursekit.grading.submission import find_submissions

pytestmark = pytest.mark.slow

MAX = sum(check.points for check in checks_for("01"))

#: Leaves a trace of every kind a later submission could stumble on.
LEAVE = """\
import json, os, pathlib, sys, tempfile
pathlib.Path("left_in_cwd.txt").write_text("a")
pathlib.Path(tempfile.gettempdir(), "left_in_tmp.txt").write_text("a")
pathlib.Path.home().joinpath("left_in_home.txt").write_text("a")
os.environ["COURSEKIT_LEFT"] = "a"
LEFT_BEHIND = 1
json.left_behind = 1
"""

#: Fails (a cell error) on any trace of the submission before it.
LOOK = """\
import json, os, pathlib, tempfile
assert os.listdir() == [], os.listdir()
assert os.listdir(tempfile.gettempdir()) == [], os.listdir(tempfile.gettempdir())
assert "left_in_home.txt" not in os.listdir(pathlib.Path.home())
assert "COURSEKIT_LEFT" not in os.environ
assert "LEFT_BEHIND" not in globals()
assert not hasattr(json, "left_behind")
assert os.environ["COURSEKIT_GRADING"] == "1"
"""


def _kernels_under(process: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
    return found


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_submission_sees_nothing_of_the_one_before(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    # --jobs 1 grades them in this order, the second in a kernel that
    # started while the first ran.
    write_notebook(subs / "01_a_leave.ipynb", *GOOD, LEAVE)
    write_notebook(subs / "01_b_look.ipynb", LOOK, *GOOD)
    write_notebook(subs / "01_c_look.ipynb", LOOK, *GOOD)
    out = tmp_path / "out"
    assert main([str(subs), "--out", str(out), "--jobs", "1"]) == 0
    _, rows = read_csv(out)
    results = read_results(out)
    assert results["01_a_leave.ipynb"]["cell_errors"] == []
    for name in ("01_b_look.ipynb", "01_c_look.ipynb"):
        assert results[name]["cell_errors"] == [], name
        assert rows[name]["total"] == str(MAX)


def test_a_kernel_started_ahead_that_died_is_replaced() -> None:
    async def scenario() -> tuple[int, int, list[int]]:
        pool = KernelPool(want_spare=lambda: True)
        try:
            first = await pool.take()
            spare = await pool._spares[0]
            dead = spare.pid
            assert dead is not None
            os.kill(dead, signal.SIGKILL)
            while await spare.alive():
                await asyncio.sleep(0.05)
            second = await pool.take()
            assert await second.alive()
            assert second.pid not in (dead, first.pid)
            pids = [p for p in (first.pid, second.pid) if p is not None]
            pool.release(first)
            pool.release(second)
            return dead, pool.replaced, pids
        finally:
            await pool.close()

    dead, replaced, pids = asyncio.run(scenario())
    assert replaced == 1
    assert all(_gone(pid) for pid in [dead, *pids])
    assert _kernels_under(psutil.Process()) == []


def test_an_error_in_the_batch_leaves_no_kernel_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b", "c", "d"):
        write_notebook(tmp_path / "subs" / f"01_{name}.ipynb", *GOOD)

    def broken(self: object, record: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(batch.Report, "add", broken)
    settings = GradeSettings(out=tmp_path / "out", jobs=2)
    submissions = find_submissions([tmp_path / "subs"])
    with pytest.raises(OSError, match="disk full"):
        grade_batch(submissions, settings, progress=io.StringIO())
    assert _kernels_under(psutil.Process()) == []


SLOW = "import time\ntime.sleep(30)"


def test_ctrl_c_stops_the_batch_and_leaves_no_kernel_behind(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        write_notebook(tmp_path / "subs" / f"01_{name}.ipynb", *GOOD, SLOW)
    entry = "import sys; from coursekit.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", entry]
    command += ["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        # The kernels write to this file too: waiting for the grader must not
        # wait for them (a pipe would stay open until the last one exits).
        process = subprocess.Popen(
            [*command, "--jobs", "2"],
            stderr=stderr,
            cwd=Path(__file__).resolve().parents[3],
            # Ctrl-C as a terminal sends it: a test run started in the
            # background by a shell without job control ignores SIGINT, and
            # a child that inherits that never gets its KeyboardInterrupt.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        grader = psutil.Process(process.pid)
        seen: set[int] = set()
        # Two kernels running, and their spares started.
        deadline = time.monotonic() + 60
        while len(seen) < 4 and time.monotonic() < deadline:
            seen |= {k.pid for k in _kernels_under(grader)}
            time.sleep(0.1)
        assert len(seen) >= 2, seen
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        # At once: an orphaned kernel would notice its parent is gone and
        # exit by itself, but only a second or so later.
        left = [pid for pid in seen if not _gone(pid)]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert process.returncode == 130, text
    assert "interrupted" in text
    assert left == []
    assert "Parent appears to have exited" not in text
