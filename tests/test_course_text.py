"""What the course's text says about itself is true.

The prose of the lessons, exercises and documents makes claims a test can
hold it to: which Python the course needs, what a released exercise's cells
contain. Each test here reads the text the learner reads.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import httpx
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
DOCUMENTS = ["README.md", "CONTRIBUTING.md"]
NOTEBOOKS = sorted(
    str(path.relative_to(ROOT))
    for folder in ("notebooks", "exercises", "solutions")
    for path in (ROOT / folder).glob("*.ipynb")
)


def prose(path: str) -> str:
    """The text a reader reads, in one line per paragraph's worth of words."""
    file = ROOT / path
    if file.suffix == ".ipynb":
        nb = nbformat.read(file, as_version=4)
        text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    else:
        text = file.read_text()
    return " ".join(text.split())


def required_python() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return re.fullmatch(r">=(3\.\d+)", project["requires-python"])[1]


@pytest.mark.parametrize("path", DOCUMENTS + NOTEBOOKS)
def test_the_python_it_asks_for_is_the_one_the_package_requires(path: str) -> None:
    # "needs Python 3.10 or newer" is a claim about the whole course; what a
    # single feature needs ("`str | None`, which needs Python 3.10") is not.
    claims = re.findall(r"Python (3\.\d+) or (?:newer|later)", prose(path))
    assert set(claims) <= {required_python()}, claims


def undefined_names(path: Path) -> set[str]:
    """The names ruff finds used but never defined in a notebook's cells."""
    command = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache"]
    command += ["--select", "F821", "--output-format", "json", str(path)]
    found = subprocess.run(command, capture_output=True, text=True, check=False)
    return {
        re.fullmatch(r"Undefined name `(.+)`", problem["message"])[1]
        for problem in json.loads(found.stdout)
    }


@pytest.mark.parametrize("name", sorted(p.name for p in EXERCISES.glob("*.ipynb")))
def test_a_released_exercise_uses_no_name_its_tasks_do_not_ask_for(
    name: str,
) -> None:
    # With the solutions cut out, the given cells may use what the learner
    # is asked to write (`secret_keys`, `test_docs`), and nothing else: a
    # name only the solution defined is a NameError for whoever follows the
    # tasks to the letter.
    path = EXERCISES / name
    text = prose(str(path.relative_to(ROOT)))
    # Asked for: named in code in the prose, alone or as a signature.
    asked = {n for n in undefined_names(path) if re.search(rf"`{n}\b", text)}
    unasked = undefined_names(path) - asked
    assert not unasked, f"{name} uses {sorted(unasked)}, which no task asks for"


@pytest.mark.parametrize("name", sorted(p.name for p in EXERCISES.glob("*.ipynb")))
def test_a_released_exercise_names_only_what_its_cells_hold(name: str) -> None:
    # The solution markers are cut out of the released cells; text that
    # points at them points at nothing.
    text = prose(f"exercises/{name}")
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text


def learner_test_hints(path: Path) -> dict[str, object]:
    """Each ``test_*`` function's ``client`` hint, as the notebook defines it.

    Runs the set-up cell, then only the definitions of the test functions:
    their hints are evaluated where the notebook evaluates them.
    """
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    namespace: dict[str, object] = {}
    exec(compile(code[0], f"{path.name}: set-up", "exec"), namespace)
    for source in code[1:]:
        tree = ast.parse(source)
        tests = [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
        module = ast.Module(body=tests, type_ignores=[])
        exec(compile(module, f"{path.name}: tests", "exec"), namespace)
    return {
        name: typing.get_type_hints(function)["client"]
        for name, function in namespace.items()
        if name.startswith("test_") and callable(function)
    }


@pytest.mark.parametrize("name", ["01_hello_world.ipynb", "02_crud.ipynb"])
def test_a_learner_test_s_client_hint_admits_every_client_it_is_given(
    name: str,
) -> None:
    # The notebook's cells give a learner's test a TestClient (an httpx2
    # client, not an httpx one); check() and the grader give it an
    # httpx.Client. A hint that names only one of them is wrong.
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    hints = learner_test_hints(ROOT / "solutions" / name)
    assert hints, f"{name} defines no learner test"
    with httpx.Client() as real, TestClient(FastAPI()) as in_process:
        for test, hint in hints.items():
            for client in (real, in_process):
                assert isinstance(client, hint), f"{test}: {type(client)} vs {hint}"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_no_cell_is_hidden(path: str) -> None:
    # What came before is visible and short: a lesson brings earlier chapters
    # in with catch_up(N) and imports from the learner's package, never with
    # a collapsed cell that re-implements them.
    nb = nbformat.read(ROOT / path, as_version=4)
    hidden = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.metadata.get("jupyter", {}).get("source_hidden")
        or cell.metadata.get("jupyter", {}).get("outputs_hidden")
    ]
    assert not hidden, f"{path}: hidden cells {hidden}"


LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def written_modules() -> list[tuple[str, str, str]]:
    """(lesson, path in the package, source) of each lesson's `%%module` cell."""
    found = []
    for lesson in LESSONS:
        for cell in nbformat.read(lesson, as_version=4).cells:
            first, _, body = cell.source.partition("\n")
            if cell.cell_type == "code" and first.startswith("%%module "):
                found.append((lesson.name, first.split(None, 1)[1].strip(), body))
    return found


def test_a_lesson_writes_the_learner_s_package() -> None:
    assert any(path == "routers/root.py" for _, path, _ in written_modules())


@pytest.mark.parametrize(("lesson", "path", "source"), written_modules())
def test_what_a_lesson_writes_into_the_package_is_the_reference_s_module(
    lesson: str, path: str, source: str
) -> None:
    # The reference course_app is what the learner's package becomes: a
    # module a lesson writes is the reference's, so that catch_up finds it
    # "already there and the same" and later chapters build on it.
    reference = ROOT / "course_app" / path
    assert reference.is_file(), f"{lesson} writes {path}, which course_app lacks"
    assert source.rstrip("\n") == reference.read_text().rstrip("\n"), (
        f"{lesson}'s %%module {path} differs from course_app/{path}"
    )


@pytest.mark.parametrize("path", DOCUMENTS + NOTEBOOKS)
def test_every_notebook_the_text_names_exists(path: str) -> None:
    found = re.findall(r"\b((?:notebooks|exercises|solutions)/\w+\.ipynb)", prose(path))
    named = {name for name in found if "/NN_" not in name}  # a pattern, not a file
    missing = sorted(name for name in named if not (ROOT / name).is_file())
    assert not missing, f"{path} names {missing}"


def lesson_text() -> str:
    """Every lesson's prose and code, as one text."""
    return "\n".join(
        cell.source
        for lesson in LESSONS
        for cell in nbformat.read(lesson, as_version=4).cells
    )


@pytest.mark.parametrize("name", sorted(p.name for p in EXERCISES.glob("*.ipynb")))
def test_what_an_exercise_takes_from_the_reference_a_lesson_teaches(name: str) -> None:
    # An exercise's set-up may hand the learner a part of the reference
    # (`from course_app.deps import SessionDep`), but only a part some lesson
    # has taught: a name no lesson mentions is one the learner cannot know.
    nb = nbformat.read(EXERCISES / name, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    taken = {
        alias.strip().split(" as ")[0]
        for names in re.findall(
            r"^from course_app[\w.]* import ([\w, ]+)$", source, re.M
        )
        for alias in names.split(",")
    }
    taught = lesson_text()
    unknown = sorted(n for n in taken if not re.search(rf"\b{n}\b", taught))
    assert not unknown, f"{name} takes {unknown} from course_app; no lesson teaches it"
