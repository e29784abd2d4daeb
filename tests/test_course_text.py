"""What the course's text says about itself is true.

The prose of the lessons, exercises and documents makes claims a test can
hold it to: which Python the course needs, what a released exercise's cells
contain. Each test here reads the text the learner reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

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
