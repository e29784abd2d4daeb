"""`catch_up(N)`: the learner's package holds the reference after chapter N.

Nothing of the learner's is lost, the copy imports under its own name, and
it runs outside the notebook as the lessons say: served by `uvicorn
my_app.main:app --reload` (which sees an edit) and tested by pytest.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from course_app import chapters
from coursekit.catch_up import (
    PACKAGE,
    WORKSPACE_ENV,
    CatchUpError,
    catch_up,
    plan_catch_up,
    write_module,
)
from coursekit.process import stop_group
from tests.jupyter_servers import free_port

#: The last chapter there is.
LAST = max(chapters.CHAPTER_FILES)

REFERENCE = Path(chapters.__file__).parent
#: Seconds a server may take to start or reload: a limit that catches a hang.
READY = 90.0


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(WORKSPACE_ENV, str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def _tree(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*.py")
        if "__pycache__" not in p.parts
    }


def test_a_fresh_workspace_gets_exactly_the_chapters_asked_for(workspace: Path) -> None:
    done = plan_catch_up(4)
    package = workspace / PACKAGE
    assert _tree(package) == set(chapters.files_upto(4))
    assert done.written == list(chapters.files_upto(4))
    for path in chapters.files_upto(4):
        assert (package / path).read_bytes() == (REFERENCE / path).read_bytes()
    wrote = f"wrote {len(done.written)} files of the reference's chapters 1 to 4: "
    assert wrote + ", ".join(done.written) in done.summary()


def test_a_second_catch_up_changes_nothing_and_says_so(workspace: Path) -> None:
    plan_catch_up(3)
    again = plan_catch_up(3)
    assert again.written == [] and again.kept == [] and again.moved_aside == []
    assert again.summary() == "my_app/ already holds chapters 1 to 3: nothing to do."


def test_a_later_chapter_adds_only_what_is_missing(workspace: Path) -> None:
    plan_catch_up(2)
    done = plan_catch_up(4)
    assert done.written == list(chapters.CHAPTER_FILES[3] + chapters.CHAPTER_FILES[4])
    assert done.unchanged == list(chapters.files_upto(2))


def test_the_learner_s_own_file_is_kept_unless_replaced(workspace: Path) -> None:
    plan_catch_up(2)
    mine = workspace / PACKAGE / "schemas.py"
    mine.write_text("# my own schemas\n")
    # A later chapter's module the learner started early.
    early = workspace / PACKAGE / "tokens.py"
    early.write_text("# my tokens, for chapter 5\n")

    kept = plan_catch_up(2)
    assert kept.kept == ["schemas.py"]
    assert mine.read_text() == "# my own schemas\n"
    assert "catch_up(2, replace=True)" in kept.summary()

    replaced = plan_catch_up(2, replace=True)
    assert replaced.moved_aside == ["schemas.py", "tokens.py"]
    assert replaced.written == ["schemas.py"]
    assert mine.read_bytes() == (REFERENCE / "schemas.py").read_bytes()
    assert not early.exists()
    saved = replaced.saved_to
    assert saved is not None and saved.parent == workspace / f"{PACKAGE}_saved"
    assert (saved / "schemas.py").read_text() == "# my own schemas\n"
    assert (saved / "tokens.py").read_text() == "# my tokens, for chapter 5\n"
    assert str(saved) in replaced.summary()


@pytest.mark.parametrize(
    ("chapter", "message"),
    [
        (0, "got 0"),
        (LAST + 1, f"got {LAST + 1}"),
        ("4", "got '4'"),
        ("04z", "got '04z'"),
        (True, "got True"),
    ],
)
def test_a_wrong_chapter_is_a_clear_error(
    workspace: Path, chapter: object, message: str
) -> None:
    wanted = (
        f"catch_up needs a chapter number from 1 to {LAST} (an int), or one of the "
        "lessons that teach part of a chapter ("
        + ", ".join(repr(lesson) for lesson in chapters.LESSON_PARTS)
        + "); "
        + message
    )
    with pytest.raises(CatchUpError, match=re.escape(wanted)):
        plan_catch_up(chapter)  # type: ignore[arg-type]
    assert not (workspace / PACKAGE).exists()


def test_a_file_where_the_package_goes_is_a_clear_error(workspace: Path) -> None:
    (workspace / PACKAGE).write_text("not a folder")
    with pytest.raises(CatchUpError, match="is a file, not a folder"):
        plan_catch_up(1)
    assert (workspace / PACKAGE).read_text() == "not a folder"


def test_catch_up_imports_the_package_afresh(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catch_up(1)
    assert "wrote 7 files" in capsys.readouterr().out
    from my_app.routers import root  # type: ignore[import-not-found]

    assert root.__file__ == str(workspace / PACKAGE / "routers" / "root.py")
    assert "my_app.routers.root" in sys.modules
    (workspace / PACKAGE / "routers" / "root.py").write_text("VERSION = 'mine'\n")
    catch_up(1, replace=True)
    assert "moved aside" in capsys.readouterr().out
    # The module imported before is gone: the next import reads the file.
    assert "my_app.routers.root" not in sys.modules
    from my_app.routers import root as again  # type: ignore[import-not-found]

    assert hasattr(again, "router") and not hasattr(again, "VERSION")


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": ""}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=READY,
    )


def test_the_copy_runs_under_its_own_name_and_says_what_is_missing(
    workspace: Path,
) -> None:
    plan_catch_up(4)
    result = _run(
        "from fastapi.testclient import TestClient\n"
        "import my_app.main as main\n"
        "from my_app.config import Settings\n"
        "app = main.create_app(upto=4, settings=Settings(database_url='sqlite://'))\n"
        "with TestClient(app) as client:\n"
        "    print(client.post('/users/', json={'name': 'Ada', "
        "'email': 'ada@example.com', 'password': 'correct-horse'}).status_code)\n"
        "print(sorted(m for m in __import__('sys').modules if 'course_app' in m))\n"
        "try:\n"
        "    main.create_app(upto=5)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n",
        workspace,
    )
    assert result.returncode == 0, result.stderr
    created, imported, missing = result.stdout.splitlines()
    assert created == "201"
    assert imported == "[]"  # the copy does not lean on the reference
    assert "(my_app.routers.auth is missing)" in missing
    assert "catch_up(5) adds the reference's chapters up to 5" in missing


def test_create_app_builds_the_chapters_the_copy_holds(workspace: Path) -> None:
    # The reference has a chapter more than the copy: create_app() (as a
    # lesson's perf_app.py calls it) builds the copy's last chapter.
    plan_catch_up(6)
    result = _run(
        "import my_app.main as main\n"
        "from my_app.config import Settings\n"
        "app = main.create_app(settings=Settings(database_url='sqlite://'))\n"
        "print(app.state.chapter, main.LAST_CHAPTER > 6)\n",
        workspace,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["6", "True"]


def _wait_for(url: str, wanted: object, process: subprocess.Popen[bytes]) -> object:
    deadline = time.monotonic() + READY
    seen: object = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            seen = httpx.get(url, timeout=5).json()
            if seen == wanted:
                return seen
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return seen


def test_uvicorn_reload_serves_the_package_and_sees_an_edit(workspace: Path) -> None:
    plan_catch_up(4)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": "",
        "DATABASE_URL": f"sqlite:///{workspace / 'my_app.db'}",
    }
    uvicorn = Path(sys.executable).parent / "uvicorn"
    command = [str(uvicorn), "my_app.main:app", "--reload", "--port", str(port)]
    log = workspace / "log.txt"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=workspace,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        root = f"http://127.0.0.1:{port}/"
        hello = {"message": "Hello, FastAPI"}
        assert _wait_for(root, hello, process) == hello, log.read_text()
        # Chapter 4's routes are there, chapter 5's are not: the app is
        # what the folder holds.
        assert httpx.get(root + "health").status_code == 200
        assert httpx.post(root + "token").status_code == 404
        source = workspace / PACKAGE / "routers" / "root.py"
        source.write_text(source.read_text().replace("Hello, FastAPI", "Hello, me"))
        edited = {"message": "Hello, me"}
        assert _wait_for(root, edited, process) == edited, log.read_text()
    finally:
        stop_group(process)


def test_pytest_tests_the_package_outside_the_notebook(workspace: Path) -> None:
    plan_catch_up(2)
    tests = workspace / "tests"
    tests.mkdir()
    (tests / "test_users.py").write_text(
        "from fastapi.testclient import TestClient\n"
        "from my_app.main import create_app\n\n\n"
        "def test_a_user_is_created() -> None:\n"
        "    with TestClient(create_app(upto=2)) as client:\n"
        "        body = {'name': 'Ada', 'email': 'ada@example.com',\n"
        "                'password': 'correct-horse'}\n"
        "        assert client.post('/users/', json=body).status_code == 201\n"
        "        assert client.get('/users/1').json()['name'] == 'Ada'\n\n\n"
        "def test_a_wrong_id_is_a_404() -> None:\n"
        "    with TestClient(create_app(upto=2)) as client:\n"
        "        assert client.get('/users/99').status_code == 404\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=workspace,
        env={**os.environ, "PYTHONPATH": "", "PYTEST_ADDOPTS": ""},
        capture_output=True,
        text=True,
        timeout=READY,
        # Outside this repository, so that its pytest settings do not apply.
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_a_module_is_written_into_the_package_and_imports_afresh(
    workspace: Path,
) -> None:
    assert write_module("routers/extra.py", "VALUE = 1") == (
        "my_app/routers/extra.py: written (1 line)"
    )
    from my_app.routers import extra  # type: ignore[import-not-found]

    assert extra.VALUE == 1
    assert write_module("routers/extra.py", "VALUE = 1\n") == (
        "my_app/routers/extra.py: unchanged (1 line)"
    )
    assert write_module("routers/extra.py", "VALUE = 2\n\nOTHER = 3\n") == (
        "my_app/routers/extra.py: rewritten (3 lines)"
    )
    from my_app.routers import extra as again  # type: ignore[import-not-found]

    assert again.VALUE == 2


@pytest.mark.parametrize("path", ["", "/etc/x.py", "../outside.py", "notes.txt"])
def test_a_module_path_outside_the_package_is_refused(
    workspace: Path, path: str
) -> None:
    with pytest.raises(CatchUpError, match="a module's path inside my_app/"):
        write_module(path, "x = 1\n")
    assert not (workspace / "outside.py").exists()
    assert not (workspace / PACKAGE).exists()


def test_a_lesson_that_teaches_part_of_a_chapter_is_a_step_of_its_own(
    workspace: Path,
) -> None:
    done = plan_catch_up("04a")
    assert done.written == [
        *chapters.files_upto(3),
        "pagination.py",
        "routers/items.py",
    ]
    assert "chapters up to lesson 04a" in done.summary()
    # The whole chapter adds the rest, and keeps what lesson 04a wrote.
    rest = plan_catch_up(4)
    assert "pagination.py" in rest.unchanged
    assert set(rest.written) == set(chapters.CHAPTER_FILES[4]) - {
        "pagination.py",
        "routers/items.py",
    }
    # Back to lesson 04a: the chapter's other files are moved aside.
    back = plan_catch_up("04a", replace=True)
    assert set(back.moved_aside) == set(rest.written)


def test_names_imported_before_a_module_is_rewritten_follow_the_new_code(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In a notebook, `from my_app.deps import get_session` and then a
    # `%%module` cell: the package imports afresh, and without a refresh the
    # kernel's name would be the old function, which a new app never calls
    # (an override keyed by it silently replaces nothing).
    from IPython.core.interactiveshell import InteractiveShell

    from coursekit.catch_up import register_magic

    shell = InteractiveShell.instance()
    try:
        # The module registered %%module when first imported, before this
        # shell existed.
        register_magic()
        assert shell.run_cell("from coursekit import catch_up\ncatch_up(2)").success
        assert shell.run_cell(
            "from my_app.passwords import hash_password\n"
            "from my_app.routers import root\n"
            "from my_app.routers.users import EMAIL_TAKEN, create_router\n"
            "from fastapi import FastAPI\n"
            "mine = FastAPI()\n"
        ).success
        old = shell.user_ns["create_router"]
        capsys.readouterr()
        shell.run_cell("%%module extra.py\nVALUE = 1\n")
        assert capsys.readouterr().out == "my_app/extra.py: written (1 line)\n"
        users = importlib.import_module("my_app.routers.users")
        assert shell.user_ns["create_router"] is users.create_router
        assert shell.user_ns["create_router"] is not old
        assert shell.user_ns["root"] is importlib.import_module("my_app.routers.root")
        assert shell.user_ns["hash_password"].__module__ == "my_app.passwords"
        # What is not the package's own stays as it was.
        assert shell.user_ns["FastAPI"].__module__ == "fastapi.applications"
        assert shell.user_ns["EMAIL_TAKEN"] == users.EMAIL_TAKEN
    finally:
        InteractiveShell.clear_instance()
