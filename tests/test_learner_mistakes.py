"""The first hour of a new learner: each typical mistake, made as a learner
makes it, gets a message that says what went wrong and what to do.

The notebook mistakes share one real Jupyter kernel (one notebook, run once,
cells in the order a learner would type them), so the file stays quick.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from coursekit.load import LoadError, run_load
from coursekit.notebook_hints import UVICORN_RUN_HINT

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

FIRST_APP = """\
from fastapi import FastAPI

app = FastAPI()

@app.get("/")
def root():
    return {"message": "Hello, FastAPI"}
"""

# The cells, in the order a learner types them; each key names a mistake.
CELLS = {
    # Before coursekit is imported: what uvicorn itself says, on its default
    # loop (uvloop, installed here) and on plain asyncio.
    # (No `app` yet: the next mistake is a check() before there is one.)
    "uvicorn_run_bare": "import uvicorn\nfrom fastapi import FastAPI\n"
    "uvicorn.run(FastAPI())",
    "uvicorn_run_asyncio": 'uvicorn.run(FastAPI(), loop="asyncio")',
    "imports": "from coursekit import check, serve, show",
    "check_before_app": 'check("01")',
    "uvicorn_run": FIRST_APP
    + '\nimport uvicorn\nuvicorn.run(app, host="127.0.0.1", port=8000)',
    "other_runtime_error": 'raise RuntimeError("something else went wrong")',
    "serve": "server = serve(app)",
    "edit_route": FIRST_APP.replace("Hello, FastAPI", "Hello again"),
    "check_stale": 'check("01", "root")',
    "port_in_use": "server = serve(app, port={port})",
}


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        yield other_program.getsockname()[1]


@pytest.fixture(scope="module")
def cells(busy_port: int) -> dict[str, nbformat.NotebookNode]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(source.replace("{port}", str(busy_port)))
        for source in CELLS.values()
    ]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True)
    client.execute(cwd=str(ROOT))
    return dict(zip(CELLS, nb.cells, strict=True))


def only_error(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    [error] = cell.outputs  # nothing else: no warning, no log line
    assert error.output_type == "error", error
    return error


def test_uvicorn_run_in_a_cell_says_to_use_serve(cells) -> None:
    error = only_error(cells["uvicorn_run"])
    assert error.traceback == [f"ServeError: {UVICORN_RUN_HINT}"]
    assert error.traceback == [
        "ServeError: uvicorn.run() cannot run inside a notebook: the kernel's own "
        "event loop is already running. Use coursekit instead: `from coursekit "
        "import serve` then `server = serve(app)`; it serves the app in the "
        "background and shows links to /docs. (In a script or a terminal, run "
        "`uvicorn module:app` or `fastapi dev module.py`.)"
    ]


def test_lesson_01_quotes_what_uvicorn_run_says_in_a_cell(cells) -> None:
    lesson = nbformat.read(ROOT / "notebooks" / "01_hello_world.ipynb", 4)
    prose = " ".join(
        " ".join(c.source.split()) for c in lesson.cells if c.cell_type == "markdown"
    )
    for name in ("uvicorn_run_bare", "uvicorn_run_asyncio"):
        [error] = [o for o in cells[name].outputs if o.output_type == "error"]
        assert error.ename == "RuntimeError"
        assert f"`{error.ename}: {error.evalue}`" in prose or (
            f"`{error.evalue}`" in prose
        ), error.evalue


def test_any_other_runtime_error_shows_as_ipython_always_shows_it(cells) -> None:
    error = only_error(cells["other_runtime_error"])
    assert (error.ename, error.evalue) == ("RuntimeError", "something else went wrong")
    text = ANSI.sub("", "\n".join(error.traceback))
    assert "Traceback (most recent call last)" in text
    assert 'raise RuntimeError("something else went wrong")' in text
    assert text.endswith("RuntimeError: something else went wrong")


def test_check_before_app_exists_says_to_run_the_cells_that_create_it(cells) -> None:
    error = only_error(cells["check_before_app"])
    assert error.traceback == [
        "CheckError: There is no `app` to check yet. Run the cells that create it "
        "(app = FastAPI() and its routes) first, or pass one: check(..., app=my_app)."
    ]


def test_editing_a_route_without_restarting_the_server_is_pointed_out(cells) -> None:
    assert all(o.output_type != "error" for o in cells["serve"].outputs)
    [report] = cells["check_stale"].outputs
    text = report.data["text/plain"]
    assert text.splitlines()[0] == (
        "Note: your running server still serves an older `app`: you changed `app` "
        "after starting it. The checks use the current one; re-run the cell with "
        "`server = serve(app)` to see your changes in the browser and in your "
        "requests too."
    )


def test_a_port_in_use_says_to_leave_out_port(cells, busy_port: int) -> None:
    error = only_error(cells["port_in_use"])
    assert error.traceback == [
        f"ServeError: Port {busy_port} on 127.0.0.1 is already in use by another "
        "program. Call serve(app) without port= to pick a free port, or stop "
        "whatever is using it."
    ]


def test_a_missing_load_generator_names_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel's Python without the course's packages: site-packages off.
    bare_python = tmp_path / "python"
    bare_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare_python.chmod(bare_python.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(bare_python))
    with pytest.raises(LoadError) as failed:
        run_load("http://127.0.0.1:9/", users=1, duration=0.5)
    message = str(failed.value)
    assert message.startswith(
        "Locust failed (exit code 1).\nInstall it: pip install locust\n"
        "Its last output:\n"
    )
    assert message.endswith("No module named locust")


def test_make_refuses_an_old_python_and_says_how_to_point_at_a_newer_one(
    tmp_path: Path,
) -> None:
    old_python = tmp_path / "python3.10"
    old_python.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) echo "Python 3.10.12"; exit 0;; esac\n'
        "exit 1\n"  # any other call, e.g. the version check
    )
    old_python.chmod(old_python.stat().st_mode | stat.S_IXUSR)
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "--no-print-directory", "lab", f"PYTHON={old_python}", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    assert done.returncode != 0
    assert done.stdout.splitlines() == [
        f"This course needs Python 3.11 or newer (FastAPI 0.165 does); "
        f"'{old_python}' is Python 3.10.12.",
        "Install a newer Python, or point make at one: make lab PYTHON=python3.12",
    ]
    assert not venv.exists()


def test_a_checker_missing_a_package_names_it_and_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kernel whose Python lacks one of the course's packages: the checker
    # process it starts cannot import httpx.
    fake = tmp_path / "httpx"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'httpx'\", name='httpx')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    from fastapi import FastAPI

    from coursekit.check import CheckError, check

    with pytest.raises(CheckError) as caught:
        check("01", app=FastAPI())
    assert str(caught.value).startswith(
        "The checker needs the package `httpx`, which the Python running this "
        "notebook ("
    )
    assert "`make lab` sets it up" in str(caught.value)
    assert "pip install -e ." in str(caught.value)
