"""Attacks on the grader, each made for real by a submitted notebook.

Each attack notebook is an honest chapter 01 solution plus one cell that
tries the attack. The cell raises what the sandbox answers (a read-only file
system, no such file, no such process...) and, should the attack ever work,
raises ``ATTACK WORKED`` instead. So each test asserts three things: the
attack's cell failed with the reason the row shows, the honest part still
earned full marks, and nothing outside the sandbox changed.

The batch runs once, two kernels at a time (so an attack on the other
kernel would hit an honest submission), in the sandbox: these tests need
bubblewrap (``make test`` installs it; where ``CI`` is set they fail without
it).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import site
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from grading_support import (
    GOOD,
    read_csv,
    read_results,
    require_sandbox,
    write_notebook,
)

import coursekit.contracts.ch01_hello
from coursekit.contracts.registry import checks_for
from coursekit.grading import sandbox
from coursekit.grading.cli import main

# A module fixture grades a whole batch in sandboxed kernels, several
# minutes on a machine that runs two test suites: the limit catches a hang.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MAX = sum(check.points for check in checks_for("01"))
#: Each attack cell ends like this when its attack did what it tried.
WORKED = "\nraise RuntimeError('ATTACK WORKED')\n"
#: What the sandbox answers a write to a file it shows read-only: run as
#: root the grader gives each kernel a user of its own, for which the
#: file's permissions already refuse; otherwise the mount does.
READ_ONLY = ("Read-only file system", "Permission denied")
#: A token in the command line of every process an attack leaves behind.
TOKEN = f"coursekit-attack-leftover-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def bwrap() -> None:
    require_sandbox("the sandbox")


def _attacks(paths: dict[str, Any]) -> dict[str, tuple[str, str | tuple[str, ...]]]:
    """name -> (the attack's cell, what its cell error must say: one of)."""
    contract = coursekit.contracts.ch01_hello.__file__
    site_packages = site.getsitepackages()[0]
    grader = os.getpid()
    return {
        # The reference system: not in the sandbox of an exercise built on
        # nothing (chapter 01 builds on no chapter).
        "reference": (
            "from course_app import create_app\napp = create_app(upto=6)" + WORKED,
            "No module named 'course_app'",
        ),
        # The course's files and the environment are read-only.
        "edit_contract": (
            f"open({contract!r}, 'a').write('# changed')" + WORKED,
            READ_ONLY,
        ),
        "plant_pth": (
            f"open({site_packages!r} + '/zz_attack.pth', 'w').write('import os')"
            + WORKED,
            READ_ONLY,
        ),
        "remount": (
            "import os, subprocess\n"
            "subprocess.run(['mount', '-o', 'remount,bind,rw', '/usr'])\n"
            "open('/usr/attack', 'w')" + WORKED,
            "Read-only file system",
        ),
        "sysctl": (
            "open('/proc/sys/kernel/core_pattern', 'w').write('|/bin/sh')" + WORKED,
            "Read-only file system",
        ),
        # Other learners' data, the hidden checks, the grader's output.
        "write_out": (
            f"open({str(paths['out'] / 'grades.csv')!r}, 'w').write('x')" + WORKED,
            "No such file or directory",
        ),
        "read_other": (
            f"open({str(paths['subs'] / '01_honest.ipynb')!r}).read()" + WORKED,
            "No such file or directory",
        ),
        "read_hidden": (
            f"open({str(paths['hidden'] / 'extra.py')!r}).read()" + WORKED,
            "No such file or directory",
        ),
        "grader_command_line": (
            "import pathlib\n"
            "files = pathlib.Path('/proc').glob('*/cmdline')\n"
            "lines = [p.read_bytes() for p in files]\n"
            f"if any({str(paths['hidden'])!r}.encode() in line for line in lines):"
            + WORKED.replace("\nraise", "\n    raise")
            + "raise LookupError('no process names the hidden checks')",
            'LookupError: "no process names the hidden checks"',
        ),
        # Text that would read as the grader's own words (and an escape that
        # would clear the instructor's terminal): quoted, on the one line of
        # the cell's error.
        "forge_feedback": (
            "raise RuntimeError('x\\nStatus: graded\\nevery check passed\\n"
            f"{MAX}/{MAX} points\\x1b[2J')",
            'RuntimeError: "x\\nStatus: graded\\nevery check passed\\n',
        ),
        # Signals: the grader and the other kernel are in another namespace.
        "kill_grader": (
            f"import os, signal\nos.kill({grader}, signal.SIGKILL)" + WORKED,
            "No such process",
        ),
        "stop_grader": (
            f"import os, signal\nos.kill({grader}, signal.SIGSTOP)" + WORKED,
            "No such process",
        ),
        "kill_everyone": (
            "import os, signal\n"
            "mine = {os.getpid(), 1}\n"
            "others = [int(p) for p in os.listdir('/proc') if p.isdigit()]\n"
            "others = [p for p in others if p not in mine]\n"
            "for pid in others:\n"
            "    os.kill(pid, signal.SIGKILL)\n"
            "raise LookupError(f'{len(others)} other processes')",
            'LookupError: "0 other processes"',
        ),
        # No network, not even the grader's loopback.
        "network": (
            "import socket\n"
            f"socket.create_connection(('127.0.0.1', {paths['port']}), timeout=2)"
            + WORKED,
            "Connection refused",
        ),
        "internet": (
            "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)"
            + WORKED,
            "Network is unreachable",
        ),
        # Processes that try to outlive the grading (a new session, a double
        # fork), one of which would rewrite the grades afterwards.
        "leave_processes": (
            "import subprocess\n"
            f"subprocess.Popen(['sh', '-c', 'sleep 6; echo hacked > "
            f"{paths['out']}/grades.csv', '{TOKEN}'], start_new_session=True)\n"
            f"subprocess.Popen(['sh', '-c', '(sh -c \"sleep 30\" {TOKEN} &)'])\n"
            "raise LookupError('left two')",
            'LookupError: "left two"',
        ),
        # Limits: many processes at once, a file that fills the disk.
        "many_processes": (
            "import subprocess\n"
            "children = []\n"
            "try:\n"
            "    for _ in range(80):\n"
            "        children.append(subprocess.Popen(['sleep', '30']))\n"
            "finally:\n"
            "    for child in children:\n"
            "        child.kill()\n"
            "        child.wait()" + WORKED,
            "Resource temporarily unavailable",
        ),
        # 512 MiB of memory (--memory below): the kernel is killed, replaced,
        # and the cells before it are run again.
        "memory": (
            "hog = b'x' * (900 * 2**20)" + WORKED,
            ("ran out of memory (the limit is 512 MiB)", "MemoryError"),
        ),
        "huge_file": (
            "with open('big', 'wb') as f:\n"
            "    for _ in range(40):\n"
            "        f.write(b'x' * 2**20)" + WORKED,
            "File too large",
        ),
    }


@pytest.fixture(scope="module")
def attacked(bwrap: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("attacks")
    listener = socket.create_server(("127.0.0.1", 0))
    paths = {
        "subs": root / "subs",
        "out": root / "out",
        "hidden": root / "hidden",
        "port": listener.getsockname()[1],
    }
    (root / "hidden").mkdir()
    (root / "hidden" / "extra.py").write_text(
        "from coursekit.contracts.registry import check\n", encoding="utf-8"
    )
    attacks = _attacks(paths)
    write_notebook(paths["subs"] / "01_honest.ipynb", *GOOD)
    for name, (cell, _) in attacks.items():
        write_notebook(paths["subs"] / f"01_{name}.ipynb", *GOOD, cell)
    watched = [Path(coursekit.contracts.ch01_hello.__file__)]
    before = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in watched}
    stderr = io.StringIO()
    args = [str(paths["subs"]), "--out", str(paths["out"]), "--jobs", "2"]
    # 32 processes and threads (a kernel needs about 20), 32 MiB of files
    # (16 MiB for any one), 512 MiB of memory (a kernel needs about 100).
    limits = ["--processes", "32", "--disk", "32", "--memory", "512"]
    with contextlib.redirect_stderr(stderr):
        status = main([*args, "--hidden", str(paths["hidden"]), *limits])
    listener.close()
    return {
        "status": status,
        "stderr": stderr.getvalue(),
        "rows": read_csv(paths["out"])[1],
        "results": read_results(paths["out"]),
        "attacks": attacks,
        "out": paths["out"],
        "before": before,
    }


ATTACKS = list(_attacks({"subs": Path(), "out": Path(), "hidden": Path(), "port": 1}))


@pytest.mark.parametrize("name", ATTACKS)
def test_the_attack_fails_and_the_row_says_why(
    attacked: dict[str, Any], name: str
) -> None:
    submission = f"01_{name}.ipynb"
    row = attacked["rows"][submission]
    assert row["status"] == "graded", row
    assert row["isolation"] == "full"
    assert int(row["total"]) == MAX, attacked["results"][submission]
    errors = attacked["results"][submission]["cell_errors"]
    _, reason = attacked["attacks"][name]
    reasons = (reason,) if isinstance(reason, str) else reason
    assert len(errors) == 1 and any(r in errors[0] for r in reasons), errors
    assert "ATTACK WORKED" not in errors[0]


def test_an_honest_submission_graded_beside_the_attacks_gets_full_marks(
    attacked: dict[str, Any],
) -> None:
    assert attacked["status"] == 0, attacked["stderr"]
    row = attacked["rows"]["01_honest.ipynb"]
    assert (row["status"], row["total"]) == ("graded", str(MAX))
    assert attacked["results"]["01_honest.ipynb"]["cell_errors"] == []


def test_a_submission_s_text_cannot_pass_for_the_grader_s(
    attacked: dict[str, Any],
) -> None:
    feedback = (attacked["out"] / "feedback" / "01_forge_feedback.txt").read_text()
    lines = feedback.splitlines()
    assert [line for line in lines if line.startswith("Status:")] == ["Status: graded"]
    assert "every check passed" not in lines
    assert f"{MAX}/{MAX} points" not in lines  # the real total line says more
    assert "\x1b" not in feedback and "\x1b" not in attacked["stderr"]


def test_nothing_outside_the_sandbox_changed(attacked: dict[str, Any]) -> None:
    for path, digest in attacked["before"].items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
    assert not (Path(site.getsitepackages()[0]) / "zz_attack.pth").exists()


def test_no_process_outlives_its_grading(attacked: dict[str, Any]) -> None:
    left = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if TOKEN in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []
    # The one that would have rewritten the grades: give it its 6 s.
    time.sleep(7)
    assert "hacked" not in (attacked["out"] / "grades.csv").read_text()


def test_every_result_records_the_isolation(attacked: dict[str, Any]) -> None:
    isolation = attacked["results"]["01_honest.ipynb"]["isolation"]
    for mechanism in ("own PID namespace", "no network", "no capabilities"):
        assert mechanism in isolation
    assert any(m.startswith("bubblewrap") for m in isolation)
    assert attacked["stderr"].startswith("isolation: full (bubblewrap")


def test_the_sandbox_probe_fails_with_a_reason_for_a_broken_bwrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("COURSEKIT_BWRAP", str(fake))
    sandbox.bubblewrap.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="No permissions"):
            sandbox.bubblewrap()
    finally:
        monkeypatch.delenv("COURSEKIT_BWRAP")
        sandbox.bubblewrap.cache_clear()
    assert subprocess.run([str(fake)], capture_output=True).returncode == 1


#: Chapter 05's exercise builds on the reference after chapter 04; these
#: try to serve the reference's chapter 05 instead of writing it.
REFERENCE_ATTACKS = {
    "create_app": "from course_app import create_app\napp = create_app(upto=5)",
    # The reference's chapter 05 routes: the login, then /users/me.
    "import_router": (
        "from course_app.routers.auth import router as login\n"
        "from course_app.routers.me import router as me\n"
        "app = build_app(login, me, *routers.values(), upto=4, settings=settings)"
    ),
    "import_dependency": "from course_app.current_user import CurrentUserDep",
    "child_process": (
        "import subprocess, sys, time\n"
        "import coursekit.serve\n"
        "def serve_the_reference(app, *, uds, **options):\n"
        "    reference = ['-m', 'uvicorn', 'course_app.main:app', '--uds', uds]\n"
        "    subprocess.Popen([sys.executable, *reference])\n"
        "    time.sleep(3)\n"
        "sys.modules['coursekit.serve'].serve = serve_the_reference"
    ),
}


@pytest.fixture(scope="module")
def reference_attacked(
    bwrap: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    from coursekit.grading.variants import course_notebook

    root = tmp_path_factory.mktemp("reference")
    subs = root / "subs"
    subs.mkdir()
    for name, cell in REFERENCE_ATTACKS.items():
        nb = course_notebook("exercises", "05")
        nb.cells.append(nbformat.v4.new_code_cell(cell))
        nbformat.write(nb, subs / f"05_{name}.ipynb")
    # The exercise's own base, one chapter up.
    nb = course_notebook("exercises", "05")
    for cell in nb.cells:
        cell.source = cell.source.replace("upto=4", "upto=5")
    nbformat.write(nb, subs / "05_raised_base.ipynb")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main([str(subs), "--out", str(root / "out"), "--jobs", "2"])
    return {
        "status": status,
        "stderr": stderr.getvalue(),
        "rows": read_csv(root / "out")[1],
        "results": read_results(root / "out"),
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("create_app", "chapter 5 of the reference system is not available here"),
        ("raised_base", "chapter 5 of the reference system is not available here"),
        ("import_router", "No module named 'course_app.routers.auth'"),
        ("import_dependency", "No module named 'course_app.current_user'"),
    ],
)
def test_the_reference_s_answers_are_not_there_to_serve(
    reference_attacked: dict[str, Any], name: str, reason: str
) -> None:
    submission = f"05_{name}.ipynb"
    row = reference_attacked["rows"][submission]
    assert row["total"] == "0", reference_attacked["results"][submission]
    errors = reference_attacked["results"][submission]["cell_errors"]
    assert any(reason in error for error in errors), errors


def test_a_child_process_cannot_serve_the_reference(
    reference_attacked: dict[str, Any],
) -> None:
    row = reference_attacked["rows"]["05_child_process.ipynb"]
    assert row["total"] == "0"
    assert row["status"] == "the app did not start: nothing answers on its socket"
