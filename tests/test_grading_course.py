"""The course's own exercises, graded the way an instructor grades them.

Every solution scores full marks, every exercise as released scores zero, and
solutions with one typical mistake lose exactly the points of what they
broke (and what depends on it).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import nbformat
import pytest

from coursekit.contracts.registry import checks_for, tasks_for
from coursekit.grading.batch import GradeSettings, grade_batch
from coursekit.grading.submission import find_submissions

ROOT = Path(__file__).resolve().parent.parent
NAMES = {
    "01": "01_hello_world.ipynb",
    "02": "02_crud.ipynb",
    "03": "03_async.ipynb",
    "04": "04_dependency_injection.ipynb",
    "05": "05_oauth2_jwt.ipynb",
    "06": "06_optimization.ipynb",
}

#: (chapter, variant, [(text in the solution, replacement)], {task: points})
VARIANTS = [
    (
        "02",
        "missing_404",  # GET /users/{id} of an unknown id: a 500, not a 404
        [
            (
                "    record = users.get(user_id)\n    if record is None:\n"
                "        raise HTTPException(status.HTTP_404_NOT_FOUND, "
                "detail=USER_NOT_FOUND)\n    return UserPublic.model_validate(record)",
                "    return UserPublic.model_validate(users.get(user_id))",
            )
        ],
        # Loses the 404 check, and the delete check, which proves the user is
        # gone by a GET that must now answer 404.
        {
            "create_user": 9,
            "read_user": 4,
            "update_user": 8,
            "delete_user": 1,
            "hide_password": 3,
        },
    ),
    (
        "03",
        "blocking_sleep_in_async",
        [
            (
                '    await asyncio.sleep(delay)\n    return IoResult(mode="async"',
                '    time.sleep(delay)\n    return IoResult(mode="async"',
            )
        ],
        # Loses the concurrency checks of /io/async only.
        {"async_io": 1, "sync_io": 5, "fanout": 5, "delay_validation": 3},
    ),
    (
        "05",
        "token_without_exp",
        [('        "exp": now + timedelta(minutes=ACCESS_TOKEN_EXPIRE_', "        # ")],
        # The token lacks exp (login's claims check), so /users/me, which
        # requires exp, rejects every token it issues.
        {"login": 4, "user_enumeration": 4, "current_user": 2, "reject_bad_tokens": 9},
    ),
]


def variant(chapter: str, replacements: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "solutions" / NAMES[chapter], as_version=4)
    for old, new in replacements:
        cells = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        assert len(cells) == 1, f"{old!r} is in {len(cells)} cells of the solution"
        cells[0].source = cells[0].source.replace(old, new)
    return nb


def grade(folder: Path, chapter: str) -> dict[str, dict[str, str]]:
    out = folder / "grades"
    settings = GradeSettings(out=out, chapter=chapter, jobs=2)
    grade_batch(find_submissions([folder]), settings, progress=io.StringIO())
    with (out / "grades.csv").open(newline="") as rows:
        return {row["submission"]: row for row in csv.DictReader(rows)}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", NAMES)
def test_solutions_full_exercises_zero_variants_exactly_their_points(
    chapter: str, tmp_path: Path
) -> None:
    folder = tmp_path / "submissions"
    folder.mkdir()
    for kind in ("solutions", "exercises"):
        nbformat.write(
            nbformat.read(ROOT / kind / NAMES[chapter], as_version=4),
            folder / f"{kind}.ipynb",
        )
    expected_variants = {}
    for ch, name, replacements, scores in VARIANTS:
        if ch == chapter:
            nbformat.write(variant(ch, replacements), folder / f"{name}.ipynb")
            expected_variants[f"{name}.ipynb"] = scores
    rows = grade(folder, chapter)
    full = sum(c.points for c in checks_for(chapter))
    tasks = tasks_for(chapter)
    assert rows["solutions.ipynb"]["status"] == "graded"
    assert rows["solutions.ipynb"]["total"] == str(full)
    assert rows["exercises.ipynb"]["status"] == "graded"
    assert rows["exercises.ipynb"]["total"] == "0"
    for name, scores in expected_variants.items():
        got = {task: int(rows[name][task]) for task in tasks}
        assert got == scores, name
