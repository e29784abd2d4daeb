"""Grading without the sandbox: what still applies, and how loudly it says so."""

from __future__ import annotations

import contextlib
import io
import uuid
from pathlib import Path

import psutil
import pytest
from grading_support import GOOD, read_csv, read_results, write_notebook

from coursekit.contracts.registry import checks_for
from coursekit.grading import batch, sandbox
from coursekit.grading.cli import main

pytestmark = pytest.mark.slow

MAX = sum(check.points for check in checks_for("01"))

#: Unique to this run: another run on the machine leaves its own.
TOKEN = f"coursekit-fallback-leftover-{uuid.uuid4().hex}"
LEAVE_A_PROCESS = f"""\
import subprocess
subprocess.Popen(["sh", "-c", "(sh -c 'sleep 30' {TOKEN} &)"],
                 start_new_session=True)
"""


def _grade(tmp_path: Path, *options: str) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(
            [str(tmp_path / "subs"), "--out", str(tmp_path / "out"), *options]
        )
    return status, stderr.getvalue()


def test_without_the_sandbox_every_row_and_the_terminal_say_it_is_weaker(
    tmp_path: Path,
) -> None:
    write_notebook(tmp_path / "subs" / "01_good.ipynb", *GOOD, LEAVE_A_PROCESS)
    status, stderr = _grade(tmp_path, "--sandbox", "off")
    assert status == 0, stderr
    # First and last, so that it is seen whatever scrolls by.
    lines = stderr.strip().splitlines()
    for line in (lines[0], lines[-1]):
        assert line.startswith("WARNING: isolation is WEAKER than it should be")
        assert "the sandbox is off (--sandbox off)" in line
        assert "--sandbox require" in line
    row = read_csv(tmp_path / "out")[1]["01_good.ipynb"]
    assert row["isolation"].startswith("weaker: the sandbox is off")
    assert row["total"] == str(MAX)
    isolation = read_results(tmp_path / "out")["01_good.ipynb"]["isolation"]
    # What still applies: a read-only copy of the course, a session of its
    # own, the limits, a clean environment.
    for mechanism in (
        "read-only copy of the course on PYTHONPATH",
        "own session",
        "rlimit cpu",
        "clean environment",
    ):
        assert mechanism in isolation
    assert not any(m.startswith("bubblewrap") for m in isolation)
    # The detached process did not outlive its grading (the cgroup, the
    # kernel's own user or the mark in its environment found it).
    left = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if TOKEN in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []


def test_require_refuses_to_grade_without_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "bwrap"
    broken.write_text(
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n"
    )
    broken.chmod(0o755)
    monkeypatch.setenv("COURSEKIT_BWRAP", str(broken))
    sandbox.bubblewrap.cache_clear()
    write_notebook(tmp_path / "subs" / "01_good.ipynb", *GOOD)
    try:
        status, stderr = _grade(tmp_path, "--sandbox", "require")
        assert status == 2
        assert "--sandbox require" in stderr and "nothing was graded" in stderr
        assert "setting up uid map: Permission denied" in stderr
        assert not (tmp_path / "out").exists()
        # auto goes on, and says why the isolation is weaker.
        status, stderr = _grade(tmp_path)
        assert status == 0
        assert "WARNING: isolation is WEAKER" in stderr
        assert "setting up uid map: Permission denied" in stderr
    finally:
        monkeypatch.delenv("COURSEKIT_BWRAP")
        sandbox.bubblewrap.cache_clear()


def test_without_the_sandbox_a_changed_course_stops_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the first submission had edited a course file: its row is kept,
    # the batch stops there, and the message says what to do.
    prints = iter(["the course as it was", *["the course, edited"] * 10])
    monkeypatch.setattr(batch, "course_fingerprint", lambda: next(prints))
    write_notebook(tmp_path / "subs" / "01_a.ipynb", *GOOD)
    write_notebook(tmp_path / "subs" / "01_b.ipynb", *GOOD)
    status, stderr = _grade(tmp_path, "--sandbox", "off", "--jobs", "1")
    assert status == 2
    assert "the course's files changed while 01_a.ipynb was graded" in stderr
    assert "Restore the course" in stderr
    rows = read_csv(tmp_path / "out")[1]
    assert list(rows) == ["01_a.ipynb"]
