"""bench.grading and bench.sandbox_cost: the mix, the checks of every grade,
the rows, and what the section does without a sandbox. Nothing here is
timed: the rows are built from made-up runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bench import grading, sandbox_cost
from bench.context import Context
from bench.grading import (
    BATCHES,
    CHAPTERS,
    COST_GOAL,
    LAUNCHES_PER_SUBMISSION,
    OFF,
    ON,
    PER_SUBMISSION,
    WALL_GOAL,
    Batch,
    Expected,
    RunResult,
    batch_rows,
    cost_rows,
    isolation_is,
    over_budget,
    plan,
    without_learner_tests,
    wrong_grade,
)
from bench.sandbox_cost import Costs, per_submission, rotation
from coursekit.contracts.registry import checks_for, tasks_for
from coursekit.grading.variants import VARIANTS

WEAKER = "weaker: the sandbox is off (--sandbox off); kernels run as root"


def test_each_chapter_gets_solutions_exercises_and_its_variants_in_turn() -> None:
    kinds = plan(34, ["a", "b", "c"])
    assert len(kinds) == 34
    counts = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    assert counts == {"solutions": 14, "exercises": 10, "a": 4, "b": 3, "c": 3}
    # Interleaved, as a class's files come.
    assert kinds[:5] == ["solutions", "exercises", "a", "b", "c"]
    assert plan(33, ["x"]).count("x") == 10
    with pytest.raises(ValueError, match="at least one variant"):
        plan(10, [])


def test_expected_grades_come_from_the_variants_and_the_contract() -> None:
    mixed = [v for v in VARIANTS if v.chapter in CHAPTERS]
    assert {v.chapter for v in mixed} == set(CHAPTERS)
    for variant in mixed:
        full = sum(c.points for c in checks_for(variant.chapter))
        want = grading._expected(variant.chapter, variant.name)
        assert want.scores == variant.scores
        assert want.total == sum(variant.scores.values())
        assert want.max == full
        assert want.blocked == variant.blocked
    for chapter in CHAPTERS:
        full = sum(c.points for c in checks_for(chapter))
        solution = grading._expected(chapter, "solutions")
        assert (solution.total, solution.max, solution.blocked) == (full, full, {})
        exercise = grading._expected(chapter, "exercises")
        assert (exercise.total, exercise.max, exercise.blocked) == (0, full, None)


def test_the_hundred_hold_every_variant_of_the_seven_chapters(tmp_path: Path) -> None:
    expected = grading.generate(tmp_path, 100)
    assert {ch: len(subs) for ch, subs in expected.items()} == {
        "02": 15,
        "03": 15,
        "05": 14,
        "08": 14,
        "09": 14,
        "10": 14,
        "11": 14,
    }
    for chapter, submissions in expected.items():
        kinds = {want.kind for want in submissions.values()}
        variants = {v.name for v in VARIANTS if v.chapter == chapter}
        assert kinds == {"solutions", "exercises", *variants}
        assert len(list((tmp_path / chapter).glob("*.ipynb"))) == len(submissions)


def _row(want: Expected, isolation: str = "full", **points: int) -> dict[str, str]:
    tasks = tasks_for(want.chapter)
    scores = want.scores or {t: 0 for t in tasks}
    row = {t: str(points.get(t, scores.get(t, 0))) for t in tasks}
    total = sum(int(row[t]) for t in tasks) if want.scores else want.total
    row.update(
        status="graded", total=str(total), max=str(want.max), isolation=isolation
    )
    return row


def test_a_grade_is_right_only_when_points_max_blocked_and_isolation_are() -> None:
    (variant,) = [v for v in VARIANTS if v.name == "token_unsigned"]
    want = grading._expected("05", variant.name)
    tasks = tasks_for("05")
    blocked = dict(variant.blocked)
    assert wrong_grade("n", want, _row(want), tasks, blocked, "require") is None
    # One point more on one task, and in the total.
    first, second = tasks[0], tasks[1]
    more = _row(want, **{first: variant.scores[first] + 1})
    assert "not" in wrong_grade("n", want, more, tasks, blocked, "require")
    # The right total, one point on the wrong task.
    moved = _row(
        want,
        **{first: variant.scores[first] + 1, second: variant.scores[second] - 1},
    )
    assert " != " in wrong_grade("n", want, moved, tasks, blocked, "require")
    # Another maximum: the contract changed under the bench.
    other_max = {**_row(want), "max": str(want.max + 1)}
    assert "out of" in wrong_grade("n", want, other_max, tasks, blocked, "require")
    # A blocked check unnamed, or named after the wrong task.
    assert "blocked" in wrong_grade("n", want, _row(want), tasks, {}, "require")
    # A row graded with weaker isolation in a batch that required the sandbox.
    weaker = _row(want, isolation=WEAKER)
    assert "isolation" in wrong_grade("n", want, weaker, tasks, blocked, "require")
    assert wrong_grade("n", want, weaker, tasks, blocked, "off") is None
    not_graded = {**_row(want), "status": "the app did not start"}
    assert "did not start" in wrong_grade("n", want, not_graded, tasks, blocked, "off")


def test_isolation_must_be_full_in_the_sandbox_and_say_weaker_without() -> None:
    assert isolation_is("full", "require")
    assert not isolation_is(WEAKER, "require")
    assert isolation_is(WEAKER, "off")
    assert not isolation_is("full", "off")
    assert not isolation_is("weaker: bubblewrap (bwrap) is not installed", "off")


def test_learner_tests_never_run_without_the_sandbox(tmp_path: Path) -> None:
    free = without_learner_tests(CHAPTERS)
    for chapter in CHAPTERS:
        has_tests = any(c.is_mutant for c in checks_for(chapter))
        assert (chapter in free) is not has_tests
    assert "02" not in free  # chapter 02's learners write a test
    assert OFF.chapters == without_learner_tests(grading.OFF_CHAPTERS) == ("03", "05")
    assert set(OFF.chapters) <= set(free) and OFF.sandbox == "off"
    assert all(b.sandbox == "require" for b in BATCHES if b is not OFF)
    ctx = Context(stream=io.StringIO())
    with pytest.raises(RuntimeError, match="refused"):
        grading.grade_run(ctx, tmp_path, {}, Batch(2, "off", ("02",)))


def _expected(total: int) -> dict[str, dict[str, Expected]]:
    want = Expected("x", "solutions", None, 1, 1)
    return {
        chapter: {f"n{i}": want for i in range(count)}
        for chapter, count in grading._split(total).items()
    }


def test_without_a_sandbox_its_rows_say_so_and_their_goals_are_not_met() -> None:
    reason = "no sandbox here: bubblewrap (bwrap) is not installed"
    costs = cost_rows(None, reason)
    assert all(row.sample is None for row in costs)
    assert all(row.cells()["note"] == f"not measured: {reason}" for row in costs)
    assert [r.goal for r in costs if r.goal] == [COST_GOAL, COST_GOAL]
    off = RunResult(60.0, {"03": 30.0, "05": 30.0}, 500 * grading.MIB, {})
    reasons = {batch: reason for batch in BATCHES if batch is not OFF}
    rows = {row.what: row for row in batch_rows({OFF: off}, _expected(100), reasons)}
    on_wall = rows["100 submissions, --jobs 2: wall time"]
    assert on_wall.sample is None and on_wall.goal == WALL_GOAL
    assert on_wall.cells()["goal"] == "<= 90 s (not measured)"
    assert rows["100 submissions, --jobs 1: wall time"].sample is None
    assert rows["29 submissions (03, 05), --jobs 2 --sandbox off: wall time"].sample
    ratio = "--jobs 2, chapters 03, 05: sandbox / --sandbox off, wall time"
    assert rows[ratio].sample is None
    assert rows[ratio].note == f"not measured: {reason}"


def test_the_off_batch_runs_only_if_it_fits_and_says_so_when_not() -> None:
    assert over_budget(100.0, 120.0, 240.0) is None
    late = over_budget(200.0, 120.0, 240.0)
    assert late == (
        "did not fit the section's time (run 200 s, would take about 120 s "
        "more, of 240 s)"
    )
    on = RunResult(90.0, {"02": 40.0, "03": 25.0, "05": 25.0}, 0, {})
    rows = batch_rows({BATCHES[0]: on, ON: on}, _expected(100), {OFF: late})
    unmeasured = {row.what: row.note for row in rows if row.sample is None}
    assert len(unmeasured) == 4  # wall, ratio, cost, peak RSS
    assert set(unmeasured.values()) == {f"not measured: {late}"}


def test_the_cost_per_submission_adds_the_tests_launch_to_each_kernel_round() -> None:
    costs = Costs(
        launch={
            "kernel": [0.020, 0.022, 0.021],
            "tests": [0.015, 0.016, 0.018],
            "direct": [0.002, 0.002, 0.003],
        },
        kernel={"sandbox": [1.05, 1.10], "off": [1.0, 1.0]},
        tests=[2.0, 2.1],
    )
    assert per_submission([50.0, 100.0], 14.0) == [64.0, 114.0]
    rows = {row.what: row for row in cost_rows(costs)}
    # Both launches of a round: (20 - 2) + (15 - 2), (22 - 2) + (16 - 2), ...
    launches = rows[LAUNCHES_PER_SUBMISSION]
    assert [round(v, 6) for v in launches.sample.values] == [31.0, 34.0, 33.0]
    assert launches.goal == COST_GOAL
    assert launches.cells()["goal"] == "<= 50 ms (met)"
    row = rows[PER_SUBMISSION]
    assert row.goal == COST_GOAL
    assert [round(v, 6) for v in row.sample.values] == [64.0, 114.0]
    assert row.cells()["goal"] == "<= 50 ms (missed by 78%)"
    kernel_cost = rows["kernel start to first reply: the sandbox's cost"]
    assert [round(v, 6) for v in kernel_cost.sample.values] == [50.0, 100.0]


def test_sandbox_and_off_compare_the_same_submissions() -> None:
    expected = _expected(100)
    on = RunResult(90.0, {"02": 40.0, "03": 25.0, "05": 25.0}, 0, {})
    off = RunResult(40.0, {"03": 20.0, "05": 20.0}, 0, {})
    runs = {BATCHES[0]: on, ON: on, OFF: off}
    rows = {row.what: row for row in batch_rows(runs, expected)}
    ratio = rows["--jobs 2, chapters 03, 05: sandbox / --sandbox off, wall time"]
    assert ratio.sample.values == (50.0 / 40.0,)
    cost = rows["--jobs 2, chapters 03, 05: the sandbox's cost per submission"]
    assert cost.sample.values == pytest.approx(((50.0 - 40.0) / 29 * 1000,))
    wall = rows["100 submissions, --jobs 2: wall time"]
    assert wall.cells()["goal"] == "<= 90 s (met)"
    # --quick: not the goal's 100, so no goal.
    quick = {row.what: row for row in batch_rows(runs, _expected(12))}
    assert quick["12 submissions, --jobs 2: wall time"].goal is None


def test_the_section_measures_only_without_the_sandbox_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    graded: list[Batch] = []

    def fake_run(ctx: Context, folder: Path, expected: object, batch: Batch):
        graded.append(batch)
        return RunResult(1.0, dict.fromkeys(batch.chapters, 0.5), 0, {})

    def no_measuring(*args: object, **kwargs: object) -> None:
        raise AssertionError("measured the sandbox without one")

    monkeypatch.setattr(sandbox_cost, "unavailable", lambda: "bwrap is not installed")
    monkeypatch.setattr(sandbox_cost, "measure", no_measuring)
    monkeypatch.setattr(grading, "grade_run", fake_run)
    rows = list(grading.run(Context(quick=True, stream=io.StringIO())))
    assert graded == [OFF]
    unmeasured = [row for row in rows if row.sample is None]
    assert unmeasured and all(
        "no sandbox here: bwrap is not installed" in row.note for row in unmeasured
    )
    assert any(row.sample is not None and "--sandbox off" in row.what for row in rows)


def test_rounds_rotate_which_side_runs_first() -> None:
    sides = ("kernel", "tests", "direct")
    firsts = [rotation(sides, i)[0] for i in range(6)]
    assert firsts == ["kernel", "tests", "direct"] * 2
    assert all(sorted(rotation(sides, i)) == sorted(sides) for i in range(3))
    assert rotation(("sandbox", "off"), 1) == ["off", "sandbox"]
