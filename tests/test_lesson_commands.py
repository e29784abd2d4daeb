"""Every command a lesson prints for serving the app does what it says.

The lessons show shell commands in ```bash blocks. Each one that serves
`course_app`, or the learner's package `my_app` (caught up to the last
chapter, in a folder of its own), runs here, on a free port, until it
answers `GET /`; one that asks for workers must start that many. Each
package a `pip install` line names must be installed by the course, so that
the command beside it works here as printed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest

from course_app.main import LAST_CHAPTER
from coursekit.catch_up import PACKAGE, plan_catch_up
from coursekit.process import stop_group
from tests.jupyter_servers import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The commands that start a server.
SERVERS = ("uvicorn", "fastapi", "gunicorn")
#: Seconds a server may take to answer: a limit that catches a hang.
READY = 90.0


def lesson_commands() -> list[tuple[str, str]]:
    """(lesson, command) for each command line of the lessons' bash blocks."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for block in re.findall(r"```(?:bash|sh)\n(.*?)```", cell.source, re.S):
                for line in block.splitlines():
                    line = line.split(" #", 1)[0].strip()
                    if line and not line.startswith("#"):
                        found.append((path.name, line))
    return found


COMMANDS = lesson_commands()
#: The reference, and the learner's package (served from the folder that
#: holds it, as the lessons say).
PACKAGES = ("course_app", "my_app")
SERVING = [
    (lesson, line)
    for lesson, line in COMMANDS
    if line.split()[0] in SERVERS and any(package in line for package in PACKAGES)
]
INSTALLS = [(lesson, line) for lesson, line in COMMANDS if line.startswith("pip ")]


def test_the_lessons_show_the_three_ways_of_serving_with_workers() -> None:
    # Not silently empty: the extraction finds what lesson 07c shows.
    assert {line.split()[0] for _, line in SERVING} == set(SERVERS)


def test_the_lessons_show_how_to_serve_the_learner_s_package() -> None:
    mine = {line for _, line in SERVING if "my_app" in line}
    assert "uvicorn my_app.main:app --reload" in mine
    assert "fastapi dev my_app/main.py" in mine


def _on_port(command: str, port: int) -> list[str]:
    """The command, listening on 127.0.0.1:port instead of what it says."""
    words = shlex.split(command)
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in ("--host", "--port", "--bind"):
            skip = True
        else:
            out.append(word)
    if out[0] == "gunicorn":
        out += ["--bind", f"127.0.0.1:{port}"]
    else:
        out += ["--host", "127.0.0.1", "--port", str(port)]
    out[0] = str(BIN / out[0])
    return out


def _workers(command: str) -> int:
    match = re.search(r"--workers[ =](\d+)", command)
    return int(match[1]) if match else 1


@pytest.mark.parametrize(("lesson", "command"), SERVING)
def test_a_serving_command_serves_the_reference(
    lesson: str, command: str, tmp_path: Path
) -> None:
    port = free_port()
    folder = ROOT  # `fastapi run course_app/main.py` is a path from the root
    if "my_app" in command:
        # The learner's package, as catch_up leaves it after the last chapter,
        # in a folder of its own (the lessons `cd` to the one that holds it).
        folder = tmp_path / "workspace"
        plan_catch_up(LAST_CHAPTER, into=folder / PACKAGE)
    env = {
        **os.environ,
        "SECRET_KEY": "a-secret-key-of-more-than-32-bytes-for-the-test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'course_app.db'}",
    }
    with (tmp_path / "log.txt").open("wb") as log_file:
        process = subprocess.Popen(
            _on_port(command, port),
            cwd=folder,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        log = (tmp_path / "log.txt").read_text(errors="replace")
        assert answer is not None, f"{lesson}: `{command}` never answered:\n{log}"
        assert answer.json() == {"message": "Hello, FastAPI"}
        # The workers are child processes of the one the command started.
        wanted = _workers(command)
        deadline = time.monotonic() + READY
        while time.monotonic() < deadline:
            workers = [
                child
                for child in psutil.Process(process.pid).children()
                if "resource_tracker" not in " ".join(child.cmdline())
            ]
            if wanted == 1 or len(workers) >= wanted:
                break
            time.sleep(0.2)
        if wanted > 1:
            assert len(workers) == wanted, f"{lesson}: `{command}`: {workers}"
    finally:
        stop_group(process)


@pytest.mark.parametrize(("lesson", "command"), INSTALLS)
def test_what_a_lesson_installs_is_installed(lesson: str, command: str) -> None:
    names = [w for w in shlex.split(command)[2:] if not w.startswith("-")]
    assert names, command
    for name in names:
        distribution = re.split(r"[\[<>=]", name, maxsplit=1)[0]
        try:
            metadata.version(distribution)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{lesson} runs `{command}`, but {distribution} is missing")
