"""The lessons as files: complete, saved with clean outputs, and really tested.

nbval (in make test) re-runs each lesson and compares outputs; these tests
check what nbval cannot: that every lesson is there and was saved after a
full run, that its outputs hold nothing machine-specific, that it ends with
its chapter's check passing, and that a broken lesson makes nbval fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.contracts.registry import checks_for
from coursekit.grading.variants import NAMES as CHAPTER_NOTEBOOKS

ROOT = Path(__file__).resolve().parent.parent
#: Each lesson, by the prefix of its name: a chapter's number, with a letter
#: for each part of a chapter taught in more than one lesson.
LESSONS = {
    "01": "01_hello_world.ipynb",
    "02a": "02a_users_models_and_storage.ipynb",
    "02b": "02b_users_over_http.ipynb",
    "03": "03_async.ipynb",
    "04a": "04a_dependency_injection.ipynb",
    "04b": "04b_sql_databases.ipynb",
    "04c": "04c_session_dependency_and_tests.ipynb",
    "05a": "05a_passwords_and_tokens.ipynb",
    "05b": "05b_current_user.ipynb",
    "06a": "06a_caching.ipynb",
    "06b": "06b_measuring_and_production.ipynb",
    "07a": "07a_postgresql.ipynb",
    "07b": "07b_redis.ipynb",
    "07c": "07c_nginx_gunicorn_and_containers.ipynb",
    "08a": "08a_middleware_and_request_ids.ipynb",
    "08b": "08b_cors_background_tasks_and_lifespan.ipynb",
    "09": "09_live_updates_and_streaming.ipynb",
    "10": "10_files_and_permissions.ipynb",
    "11a": "11a_pages_and_cookies.ipynb",
    "11b": "11b_testing_the_pages.ipynb",
}
#: The page `make lab` opens first: how the course works, what to open.
START_PAGE = "00_start_here.ipynb"
#: What must never be in a saved output: it differs between machines or runs.
MACHINE_SPECIFIC = {
    "a port": re.compile(r"(127\.0\.0\.1|localhost):\d"),
    "an absolute path": re.compile(r"(/work/|/home/|/root/|/tmp/|/Users/|[A-Z]:\\\\)"),
    "a memory address": re.compile(r"\b0x[0-9a-f]{8,}\b"),
    "a terminal colour code": re.compile(r"\x1b\["),
}


#: Every notebook saved with outputs that nbval compares: lessons, solutions.
SAVED = (
    [f"notebooks/{START_PAGE}"]
    + [f"notebooks/{name}" for name in LESSONS.values()]
    + [f"solutions/{name}" for name in CHAPTER_NOTEBOOKS.values()]
)


def load(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "notebooks" / LESSONS[lesson], as_version=4)


def last_part(lesson: str) -> bool:
    """Whether `lesson` ends its chapter (a chapter in parts ends with the last)."""
    return max(name for name in LESSONS if name[:2] == lesson[:2]) == lesson


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


def output_text(cell: nbformat.NotebookNode) -> str:
    return json.dumps(cell.get("outputs", []), ensure_ascii=False)


def test_the_lessons_folder_holds_the_start_page_and_the_six_lessons() -> None:
    found = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert found == sorted([START_PAGE, *LESSONS.values()])


def test_the_start_page_says_how_the_course_works_and_what_to_open_first() -> None:
    nb = nbformat.read(ROOT / "notebooks" / START_PAGE, as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    assert nb.cells[0].source.startswith("# 00 · Start here")
    for part in ("**Time:**", "## How the course works", "serve(app)", "check("):
        assert part in text
    # It ends by pointing at the first lesson, which exists.
    assert "(01_hello_world.ipynb)" in nb.cells[-1].source
    assert (ROOT / "notebooks" / LESSONS["01"]).exists()
    # Its environment check ran and found everything.
    (check,) = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert "Everything is installed" in output_text(check)


@pytest.mark.parametrize("path", SAVED)
def test_every_code_cell_was_run_in_order_and_only_tagged_cells_raise(
    path: str,
) -> None:
    nb = nbformat.read(ROOT / path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "save it with `make notebooks`"
    for cell in code:
        raised = any(o.output_type == "error" for o in cell.outputs)
        assert raised == ("raises-exception" in tags(cell)), cell.source[:80]


@pytest.mark.parametrize("path", SAVED)
def test_saved_outputs_hold_nothing_machine_specific(path: str) -> None:
    nb = nbformat.read(ROOT / path, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    assert "version" not in nb.metadata.get("language_info", {})
    for index, cell in enumerate(nb.cells):
        text = output_text(cell)
        for what, pattern in MACHINE_SPECIFIC.items():
            found = pattern.search(text)
            assert not found, f"cell {index + 1} shows {what}: {found.group()!r}"
        assert "execution" not in cell.metadata  # no timings


#: Lessons that teach what no check of their chapter can see and end by
#: checking the chapter before on their new set-up: 07a moves the service to
#: PostgreSQL, and chapter 06's contract passing there is its proof (chapter
#: 07's checks are about Redis, which lesson 07b brings).
CHECKS_BEFORE_ITS_CHAPTER = {"07a": "06"}


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_opens_with_its_plan_and_ends_with_its_check_passing(
    lesson: str,
) -> None:
    nb = load(lesson)
    chapter = CHECKS_BEFORE_ITS_CHAPTER.get(lesson, lesson[:2])
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# {lesson} · ")
    assert re.search(r"\d+\s*(minutes|min)", first.source), "say how long it takes"
    last_code = [c for c in nb.cells if c.cell_type == "code"][-1]
    called = re.fullmatch(
        rf"check\(\s*[\"']{chapter}[\"'](?:,\s*[\"'](\w+)[\"'])?.*\)",
        last_code.source.strip(),
        re.S,
    )
    assert called, last_code.source
    # The lesson that ends a chapter checks all of it; an earlier part
    # checks the tasks it taught (or all of them, when it taught them all).
    task = called[1]
    assert task is None or not last_part(lesson), last_code.source
    assert "nbval-ignore-output" not in tags(last_code)
    # A lesson leaves the exercise's own tests out (`own_tests=False`), but
    # for one that writes the test itself (11b's `test_sign_in`): then its
    # mutants are checked too.
    own_tests = "own_tests=False" not in last_code.source
    checked = [c for c in checks_for(chapter, task) if own_tests or not c.is_mutant]
    points, count = sum(c.points for c in checked), len(checked)
    report = output_text(last_code)
    assert f"{points}/{points} points ({count}/{count} checks passed)" in report
    assert nb.cells[-1].cell_type == "markdown"
    assert "next" in nb.cells[-1].source.lower()


@pytest.mark.parametrize("lesson", LESSONS)
def test_measured_cells_assert_their_claims(lesson: str) -> None:
    # A cell whose output is not compared must still be able to fail, or say
    # why it has nothing to assert.
    for cell in load(lesson).cells:
        if "nbval-ignore-output" in tags(cell):
            reasons = ("assert", "check(", "# Not compared: ")
            assert any(r in cell.source for r in reasons), cell.source[:80]


@pytest.mark.slow
def test_a_broken_line_in_a_lesson_fails_at_the_cell_that_shows_it(
    tmp_path: Path,
) -> None:
    nb = load("01")
    code = [c for c in nb.cells if c.cell_type == "code"]
    definer = next(i for i, c in enumerate(code) if '"Hello, FastAPI"' in c.source)
    code[definer].source = code[definer].source.replace(
        '"Hello, FastAPI"', '"Hello, World"'
    )
    shows = next(
        i
        for i, c in enumerate(code)
        if i > definer and "Hello, FastAPI" in output_text(c)
    )
    broken = tmp_path / LESSONS["01"]
    nbformat.write(nb, broken)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "conftest.py", tmp_path)
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "nbval-sanitize.cfg", tmp_path / "tests")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(broken)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    failed = re.findall(r"^FAILED \S+::Cell (\d+)", done.stdout, re.MULTILINE)
    # nbval numbers the code cells from 0.
    assert failed, done.stdout[-3000:]
    assert int(failed[0]) == shows, done.stdout[-3000:]
    assert "Hello, World" in done.stdout


@pytest.mark.parametrize("name", sorted(CHAPTER_NOTEBOOKS.values()))
def test_an_exercise_opens_with_its_plan_and_ends_with_what_to_do_next(
    name: str,
) -> None:
    nb = nbformat.read(ROOT / "exercises" / name, as_version=4)
    first = nb.cells[0].source
    assert first.startswith(f"# {name[:2]} · Exercises: ")
    assert "**Time:**" in first
    markdown = [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    assert markdown[-1].startswith("## What's next")


#: A careful learner's pace, fitted to the times careful reads of the
#: lessons took (issue 13: 45-60 minutes for lesson 01's 3,060 words and 118
#: lines of code, 90 for the old lesson 04's 2,780 words and 532 lines):
#: prose at 76 words a minute, code at 6 seconds a line, run and read.
WORDS_PER_MINUTE = 76
MINUTES_PER_CODE_LINE = 0.1
#: One step per lesson: about an hour, and about 300 lines of code (not
#: counting blank lines and comments).
MOST_MINUTES = 75
MOST_CODE_LINES = 300


def careful_read(nb: nbformat.NotebookNode) -> tuple[float, int]:
    """(minutes a careful learner takes, lines of code) for a lesson."""
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    lines = sum(len(source.splitlines()) for source in code)
    loc = sum(
        1
        for source in code
        for line in source.splitlines()
        if line.strip() and not line.strip().startswith("#")
    )
    return words / WORDS_PER_MINUTE + lines * MINUTES_PER_CODE_LINE, loc


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_is_one_step_and_says_truly_how_long_it_takes(lesson: str) -> None:
    nb = load(lesson)
    minutes, loc = careful_read(nb)
    assert loc <= MOST_CODE_LINES, f"{loc} lines of code: split the lesson"
    assert minutes <= MOST_MINUTES, f"{minutes:.0f} minutes: split the lesson"
    stated = re.search(r"\*\*Time:\*\* about (\d+) minutes", nb.cells[0].source)
    assert stated, "say how long it takes: **Time:** about N minutes"
    assert abs(int(stated[1]) - minutes) <= 10, (
        f"says {stated[1]} minutes, a careful read takes about {minutes:.0f}"
    )


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_s_sections_are_numbered_in_order(lesson: str) -> None:
    # The prose refers to "section N": a gap or a repeat sends the reader
    # to the wrong place.
    numbers = [
        int(match[1])
        for cell in load(lesson).cells
        if cell.cell_type == "markdown"
        for match in re.finditer(r"^## (\d+)\.", cell.source, re.M)
    ]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers
