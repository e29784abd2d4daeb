"""The progress display: a bar on a terminal, the same lines as ever elsewhere."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from coursekit.progress import Progress

#: What rich's bar draws with, and moves the cursor with.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_off_a_terminal_only_the_lines_are_printed() -> None:
    stream = io.StringIO()
    with Progress(2, label="grading", unit="submissions", stream=stream) as bar:
        assert not bar.live
        bar.started("a.ipynb")
        bar.finished("a.ipynb", "[1/2] a.ipynb: graded 3/3 (1.0 s)")
        bar.started("[b].ipynb")
        bar.finished("[b].ipynb", "[2/2] [b].ipynb: graded 0/3 (1.0 s)")
    assert stream.getvalue() == (
        "[1/2] a.ipynb: graded 3/3 (1.0 s)\n[2/2] [b].ipynb: graded 0/3 (1.0 s)\n"
    )


def test_on_a_terminal_the_bar_shows_done_rate_time_left_and_what_runs() -> None:
    stream = io.StringIO()
    with Progress(
        4, label="grading", unit="submissions", stream=stream, terminal=True, width=160
    ) as bar:
        assert bar.live
        bar.started("alice.ipynb")
        bar.started("bob.ipynb")
        time.sleep(0.05)
        # A name that looks like rich markup is printed as it is.
        bar.finished("alice.ipynb", "[1/4] [bold]alice.ipynb: graded 3/3")
    shown = _ANSI.sub("", stream.getvalue())  # stopping draws the bar once more
    assert "[1/4] [bold]alice.ipynb: graded 3/3" in shown
    assert re.search(r"grading .* 1/4 \d+\.\d submissions/min", shown), shown
    assert "now: bob.ipynb" in shown
    assert re.search(r"submissions/min \d+:\d\d:\d\d left", shown)


def test_the_environment_can_ask_for_lines_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COURSEKIT_PROGRESS", "lines")
    assert not Progress(1, label="x", unit="y", stream=io.StringIO()).live
    monkeypatch.setenv("COURSEKIT_PROGRESS", "bar")
    assert Progress(1, label="x", unit="y", stream=io.StringIO()).live


def _read_all(fd: int, process: subprocess.Popen[bytes], timeout: float) -> str:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_coursekit_run_draws_a_bar_in_a_real_terminal(tmp_path: Path) -> None:
    paths = []
    for name in ("first", "second"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("print('hello')")]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        paths.append(str(path))
    plain = _in_a_terminal(["run", *paths])
    assert re.search(r"==> \S*first\.ipynb ok \(\d+\.\d s\)", plain), plain
    assert re.search(r"running .* 2/2", plain), plain
    assert "notebooks/min" in plain


def _in_a_terminal(args: list[str], timeout: float = 240) -> str:
    main, child = pty.openpty()
    env = os.environ | {"COLUMNS": "160", "TERM": "xterm"}
    env.pop("COURSEKIT_PROGRESS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "coursekit.cli", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    os.close(child)
    try:
        shown = _read_all(main, process, timeout=timeout)
        assert process.wait(timeout=60) == 0, shown
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
    assert "\x1b[" in shown  # drawn, not just printed
    return _ANSI.sub("", shown)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_coursekit_grade_draws_a_bar_in_a_real_terminal(tmp_path: Path) -> None:
    for name in ("01_a", "01_b"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_code_cell("from fastapi import FastAPI\napp = FastAPI()")
        ]
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    plain = _in_a_terminal(
        ["grade", str(tmp_path), "--out", str(tmp_path / "out"), "--jobs", "2"]
    )
    assert re.search(r"\[1/2\] 01_[ab]\.ipynb: graded 0/\d+", plain), plain
    assert re.search(r"grading .* 2/2 \d+\.\d submissions/min", plain), plain
