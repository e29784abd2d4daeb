"""coursekit build: exercises generated from solutions, checked for staleness."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.build import BuildError, exercise_source, main, strip_markdown

RUFF = Path(sys.executable).with_name("ruff")
COURSEKIT = Path(sys.executable).with_name("coursekit")
#: Where the message fits on its own line (ruff's 88 columns), it stays whole.
ROOT_PLACEHOLDER = """\
# YOUR CODE HERE
raise NotImplementedError(
    "Task root: write this part; the task's description above says what it must do."
)"""
#: Deeper, it is split in two, the shape ruff format keeps.
NESTED_PLACEHOLDER = """\
        # YOUR CODE HERE
        raise NotImplementedError(
            "Task root: write this part; "
            "the task's description above says what it must do."
        )"""
OTHER_PLACEHOLDER = """\
# YOUR CODE HERE
raise NotImplementedError(
    "Task this task: write this part; "
    "the task's description above says what it must do."
)"""

md = nbformat.v4.new_markdown_cell
code = nbformat.v4.new_code_cell

TASK_CELL = """\
router = APIRouter()

### BEGIN SOLUTION
@router.get("/")
def root() -> dict[str, str]:
    return {"message": "Hello, FastAPI"}
### END SOLUTION

routers["root"] = router"""


def solved_notebook() -> nbformat.NotebookNode:
    """A small exercise notebook in the course's shape, with outputs."""
    nb = nbformat.v4.new_notebook()
    setup = code("from fastapi import APIRouter\n\nrouters = {}")
    setup.execution_count = 1
    task = code(TASK_CELL)
    task.execution_count = 2
    task.outputs = [nbformat.v4.new_output("stream", text="done\n")]
    task.metadata.execution = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    task.metadata.tags = ["keep-me"]
    nb.cells = [
        md("# 01 · Exercises: Hello\n\n```python\n# not a heading\n```"),
        md(
            "## Task 1 · root (2 points)\n\nServe `GET /`, say:\n\n"
            "```python\n# a comment, not a heading\n```"
        ),
        setup,
        task,
        md(
            "Hint: think about it.\n\n<!-- BEGIN SOLUTION -->\n"
            "The answer is a dict.\n<!-- END SOLUTION -->\n\nGood luck."
        ),
        code(
            "def helper():\n"
            "    if True:\n"
            "        ### BEGIN SOLUTION\n"
            "        return 1\n"
            "        ### END SOLUTION"
        ),
        md("## What's next\n\nChapter 02."),
        code("x = 1  ### BEGIN SOLUTION\ny = 2\n### END SOLUTION"),
    ]
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    nb.metadata.kernelspec = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    nb.metadata.language_info = {"name": "python", "version": "3.11.7"}
    nb.metadata.vscode = {"interpreter": {"hash": "abc123"}}
    return nb


def write(path: Path, nb: nbformat.NotebookNode) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    write(solutions / "01_hello.ipynb", solved_notebook())
    return solutions, exercises


def build(solutions: Path, exercises: Path, *flags: str) -> int:
    return main([*flags, str(solutions), str(exercises)])


def built(folders: tuple[Path, Path]) -> dict:
    solutions, exercises = folders
    assert build(solutions, exercises) == 0
    return json.loads((exercises / "01_hello.ipynb").read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_solution_regions_become_placeholders_naming_the_task(folders) -> None:
    cells = built(folders)["cells"]
    assert source(cells[3]) == (
        "router = APIRouter()\n\n" + ROOT_PLACEHOLDER + '\n\nrouters["root"] = router'
    )


def test_placeholders_keep_the_indentation_and_line_ends(folders) -> None:
    cells = built(folders)["cells"]
    assert source(cells[5]) == "def helper():\n    if True:\n" + NESTED_PLACEHOLDER
    # After "## What's next" no task is named.
    assert source(cells[7]) == OTHER_PLACEHOLDER
    # A line break after the END line stays, and so do the lines after it.
    assert exercise_source("### BEGIN SOLUTION\n### END SOLUTION\nz = 3\n", "root") == (
        ROOT_PLACEHOLDER + "\nz = 3\n"
    )


def test_markdown_solution_regions_are_removed(folders) -> None:
    cells = built(folders)["cells"]
    assert source(cells[4]) == "Hint: think about it.\n\n\nGood luck."
    assert strip_markdown("Is <!-- BEGIN SOLUTION -->42<!-- END SOLUTION -->.") == (
        "Is ."
    )


def test_outputs_counts_and_volatile_metadata_go_ids_and_tags_stay(folders) -> None:
    nb = built(folders)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == []
            assert cell["execution_count"] is None
    assert [c["id"] for c in nb["cells"]] == [f"cell-{i}" for i in range(8)]
    assert nb["cells"][3]["metadata"] == {"tags": ["keep-me"]}
    assert nb["metadata"]["language_info"] == {"name": "python"}
    assert "vscode" not in nb["metadata"]
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    nbformat.validate(nbformat.from_dict(nb))


def test_the_output_is_deterministic_and_clean_for_ruff(folders, tmp_path) -> None:
    solutions, exercises = folders
    assert build(solutions, exercises) == 0
    first = (exercises / "01_hello.ipynb").read_bytes()
    other = tmp_path / "elsewhere" / "exercises"
    assert build(solutions, other) == 0
    assert (other / "01_hello.ipynb").read_bytes() == first
    assert build(solutions, exercises) == 0
    assert (exercises / "01_hello.ipynb").read_bytes() == first
    assert first.endswith(b"}\n")
    # `make format` must leave generated exercises alone, or they go stale.
    for command in (["format", "--check"], ["check", "--select", "E501"]):
        result = subprocess.run(
            [str(RUFF), *command, "--no-cache", str(exercises)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_check_finds_missing_stale_and_extra_and_passes_after_build(
    folders, capsys
) -> None:
    solutions, exercises = folders
    assert build(solutions, exercises, "--check") == 1
    out = capsys.readouterr().out
    assert f"missing: {exercises / '01_hello.ipynb'}" in out
    assert "fix: run `coursekit build" in out
    assert not exercises.exists()  # --check writes nothing

    assert build(solutions, exercises) == 0
    capsys.readouterr()
    assert build(solutions, exercises, "--check") == 0
    assert "all exercises up to date" in capsys.readouterr().out

    nb = solved_notebook()
    nb.cells[1].source = "## Task 1 · home (2 points)"
    write(solutions / "01_hello.ipynb", nb)
    write(solutions / "02_more.ipynb", solved_notebook())
    assert build(solutions, exercises, "--check") == 1
    out = capsys.readouterr().out
    assert f"stale:   {exercises / '01_hello.ipynb'}" in out
    assert f"missing: {exercises / '02_more.ipynb'}" in out

    assert build(solutions, exercises) == 0
    (solutions / "02_more.ipynb").unlink()
    capsys.readouterr()
    assert build(solutions, exercises, "--check") == 1
    assert f"extra:   {exercises / '02_more.ipynb'}" in capsys.readouterr().out
    assert build(solutions, exercises) == 0
    assert not (exercises / "02_more.ipynb").exists()
    assert build(solutions, exercises, "--check") == 0


def test_the_fix_names_the_default_command_plainly(
    folders, capsys, monkeypatch
) -> None:
    solutions, _ = folders
    monkeypatch.chdir(solutions.parent)
    assert main(["--check"]) == 1
    assert "fix: run `coursekit build` and commit" in capsys.readouterr().out


def test_only_generated_notebooks_are_ever_deleted(folders) -> None:
    solutions, exercises = folders
    handmade = write(exercises / "99_handmade.ipynb", solved_notebook())
    notes = exercises / "notes.txt"
    notes.write_text("mine")
    assert build(solutions, exercises) == 0
    assert build(solutions, exercises, "--check") == 0
    assert handmade.exists() and notes.read_text() == "mine"


def test_one_broken_solution_stops_the_build_before_any_write(folders, capsys) -> None:
    solutions, exercises = folders
    broken = solved_notebook()
    broken.cells[3].source = "### BEGIN SOLUTION\nx = 1"
    write(solutions / "00_broken.ipynb", broken)
    assert build(solutions, exercises) == 2
    assert not exercises.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "00_broken.ipynb: cell 4 (id cell-3): the ### BEGIN SOLUTION" in err


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("### BEGIN SOLUTION\nx = 1\n", "the ### BEGIN SOLUTION on line 1 has no"),
        (
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
            "line 2 has ### BEGIN SOLUTION inside the region opened on line 1",
        ),
        ("x = 1\n### END SOLUTION\n", "line 2 has ### END SOLUTION without"),
    ],
)
def test_unpaired_code_markers_are_errors(text: str, problem: str) -> None:
    with pytest.raises(BuildError, match=problem):
        exercise_source(text, "root", "nb: cell 3")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<!-- BEGIN SOLUTION -->\nanswer", "on line 1 has no <!-- END"),
        (
            "<!-- BEGIN SOLUTION -->\n<!-- BEGIN SOLUTION -->\n<!-- END SOLUTION -->",
            "line 2 has <!-- BEGIN SOLUTION --> inside the region opened on line 1",
        ),
        ("answer\n<!-- END SOLUTION -->", "line 2 has <!-- END SOLUTION --> without"),
    ],
)
def test_unpaired_markdown_markers_are_errors(text: str, problem: str) -> None:
    with pytest.raises(BuildError, match=problem):
        strip_markdown(text, "nb: cell 2")


def test_a_missing_solutions_folder_is_one_clear_line(tmp_path, capsys) -> None:
    assert build(tmp_path / "nope", tmp_path / "exercises") == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"error: {tmp_path / 'nope'}: no such folder; "
        + err.split("no such folder; ", 1)[1]
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "not a notebook (not JSON"),
        ('{"cells": []}', "not a notebook in nbformat 4"),
        ('{"nbformat": 4, "nbformat_minor": 5, "cells": 3}', "not a valid notebook"),
    ],
)
def test_a_file_that_is_not_a_notebook_is_named(
    tmp_path, capsys, content: str, problem: str
) -> None:
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / "junk.ipynb").write_text(content)
    assert build(solutions, tmp_path / "exercises", "--check") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {solutions / 'junk.ipynb'}: {problem}")
    assert err.count("\n") == 1


def test_the_cli_runs_build(folders) -> None:
    solutions, exercises = folders
    result = subprocess.run(
        [str(COURSEKIT), "build", "--check", str(solutions), str(exercises)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "missing:" in result.stdout


@pytest.mark.parametrize(
    ("heading", "task"),
    [
        ("## Task 2 · read_item (4 points)", "read_item"),
        ("## Task 2 · `read_item` (4 points)", "read_item"),
        ("## Task 2: read_item", "read_item"),
        ("## Task 2 · read_item\n\n### Hints\n\nUse `int`.", "read_item"),
        ("## Set-up", "this task"),
        ("# 01 · Exercises", "this task"),
    ],
)
def test_the_task_comes_from_the_nearest_top_heading(
    tmp_path: Path, heading: str, task: str
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [md("## Task 1 · root"), md(heading), code(TASK_CELL)]
    solutions = tmp_path / "solutions"
    write(solutions / "01.ipynb", nb)
    assert build(solutions, tmp_path / "exercises") == 0
    cells = json.loads((tmp_path / "exercises" / "01.ipynb").read_text())["cells"]
    assert f'"Task {task}: write this part' in source(cells[2])
