"""The course's own exercises, graded the way an instructor grades them.

Every solution scores full marks, every exercise as released scores zero, and
solutions with one typical mistake lose exactly the points of what they
broke (and what depends on it).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import nbformat
import pytest

from coursekit.contracts.registry import checks_for, tasks_for
from coursekit.grading.batch import GradeSettings, grade_batch
from coursekit.grading.submission import find_submissions
from coursekit.grading.variants import NAMES, VARIANTS, course_notebook


def grade(folder: Path, chapter: str) -> dict[str, dict[str, str]]:
    out = folder / "grades"
    settings = GradeSettings(out=out, chapter=chapter, jobs=2)
    grade_batch(find_submissions([folder]), settings, progress=io.StringIO())
    with (out / "grades.csv").open(newline="") as rows:
        return {row["submission"]: row for row in csv.DictReader(rows)}


@pytest.mark.slow
@pytest.mark.timeout(900)  # a batch per chapter: catches a hang
@pytest.mark.parametrize("chapter", NAMES)
def test_solutions_full_exercises_zero_variants_exactly_their_points(
    chapter: str, tmp_path: Path
) -> None:
    folder = tmp_path / "submissions"
    folder.mkdir()
    for kind in ("solutions", "exercises"):
        nbformat.write(course_notebook(kind, chapter), folder / f"{kind}.ipynb")
    expected_variants = {}
    expected_blocked = {}
    for v in VARIANTS:
        if v.chapter == chapter:
            nbformat.write(v.notebook(), folder / f"{v.name}.ipynb")
            expected_variants[f"{v.name}.ipynb"] = v.scores
            expected_blocked[f"{v.name}.ipynb"] = v.blocked
    rows = grade(folder, chapter)
    full = sum(c.points for c in checks_for(chapter))
    tasks = tasks_for(chapter)
    assert rows["solutions.ipynb"]["status"] == "graded"
    assert rows["solutions.ipynb"]["total"] == str(full)
    assert rows["exercises.ipynb"]["status"] == "graded"
    assert rows["exercises.ipynb"]["total"] == "0"
    for name, scores in expected_variants.items():
        got = {task: int(rows[name][task]) for task in tasks}
        # The feedback says why, should a run on a busy machine differ.
        feedback = folder / "grades" / "feedback" / f"{Path(name).stem}.txt"
        assert got == scores, f"{name}:\n{feedback.read_text()}"
    # Checks blocked by a broken set-up step name the task to fix first.
    records = json.loads((folder / "grades" / "results.json").read_text())
    for record in records["submissions"]:
        blocked = expected_blocked.get(record["submission"])
        if blocked is None:
            continue
        got_blocked = {r["name"]: r["blocked_by"] for r in record["results"]}
        got_blocked = {name: task for name, task in got_blocked.items() if task}
        assert got_blocked == blocked, record["submission"]
        for r in record["results"]:
            if r["name"] in blocked:
                assert r["message"].startswith(
                    f"set-up failed: see task {blocked[r['name']]}"
                )
