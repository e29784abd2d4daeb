"""bench.stats: medians, spreads, paired ratios and goal verdicts."""

from __future__ import annotations

import pytest

from bench.__main__ import table
from bench.stats import Goal, Row, Sample, differences, ratios


def test_a_sample_reports_its_median_and_spread() -> None:
    sample = Sample([12.0, 10.0, 30.0], "s")
    assert (sample.median, sample.low, sample.high) == (12.0, 10.0, 30.0)
    assert sample.spread == "10.0 s .. 30.0 s"
    assert Sample([1234.5], "req/s").spread == "one run"
    assert Sample([1234.5], "req/s").fmt(1234.5) == "1,234 req/s"
    with pytest.raises(ValueError, match="at least one"):
        Sample([], "s")


def test_ratios_pair_runs_made_side_by_side() -> None:
    # Run 2 was slow for both sides: paired, the ratio stays 2x.
    assert ratios([200.0, 100.0, 210.0], [100.0, 50.0, 105.0]).values == (
        2.0,
        2.0,
        2.0,
    )
    with pytest.raises(ValueError, match="cannot pair 2 runs with 3"):
        ratios([1.0, 2.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("goal", "value", "verdict"),
    [
        (Goal("<=", 30, "s"), 29.9, "met"),
        (Goal("<=", 30, "s"), 30.0, "met"),
        (Goal("<=", 30, "s"), 30.6, "missed by 2.0%"),
        (Goal("<=", 30, "s"), 45, "missed by 50%"),
        (Goal("<=", 30, "s"), 30.01, "missed by under 0.1%"),
        (Goal(">=", 0.6, "x"), 0.37, "missed by 38%"),
        (Goal(">=", 0.6, "x"), 0.61, "met"),
    ],
)
def test_a_goal_says_whether_the_median_met_it_and_by_how_much(
    goal: Goal, value: float, verdict: str
) -> None:
    assert goal.verdict(value) == verdict


def test_the_table_shows_goal_and_verdict_per_row() -> None:
    rows = [
        Row("s", "nbval | wall", Sample([31.0, 29.0, 33.0], "s"), Goal("<=", 30, "s")),
        Row("s", "ratio", Sample([0.5, 0.6, 0.7], "x"), note="paired"),
    ]
    lines = table(rows).splitlines()
    assert lines[0] == "| what | median | spread (min .. max) | runs | goal | note |"
    assert lines[2] == (
        "| nbval \\| wall | 31.0 s | 29.0 s .. 33.0 s | 3 "
        "| <= 30 s (missed by 3.3%) |  |"
    )
    assert lines[3] == "| ratio | 0.60x | 0.50x .. 0.70x | 3 |  | paired |"


def test_differences_pair_runs_and_report_milliseconds() -> None:
    # Seconds measured, milliseconds reported; run 2 was slow for both sides.
    sample = differences([0.030, 0.130, 0.031], [0.010, 0.110, 0.012])
    assert sample.unit == "ms"
    assert [round(v, 6) for v in sample.values] == [20.0, 20.0, 19.0]
    assert sample.median == pytest.approx(20.0)
    # What costs less on the "top" side is a negative cost, not hidden.
    assert differences([1.0], [1.5], unit="s", scale=1).values == (-0.5,)
    with pytest.raises(ValueError, match="cannot pair 1 runs with 2"):
        differences([1.0], [1.0, 2.0])


def test_a_row_not_measured_says_why_in_the_table_and_meets_no_goal() -> None:
    row = Row.not_measured(
        "s",
        "cost per submission",
        "no sandbox here: bwrap missing",
        Goal("<=", 50, "ms"),
    )
    assert row.sample is None
    assert row.cells() == {
        "what": "cost per submission",
        "median": "not measured",
        "spread (min .. max)": "-",
        "runs": "0",
        "goal": "<= 50 ms (not measured)",
        "note": "not measured: no sandbox here: bwrap missing",
    }
    lines = table([row, Row.not_measured("s", "wall", "no sandbox")]).splitlines()
    assert lines[2] == (
        "| cost per submission | not measured | - | 0 | <= 50 ms (not measured) "
        "| not measured: no sandbox here: bwrap missing |"
    )
    assert lines[3] == "| wall | not measured | - | 0 |  | not measured: no sandbox |"
    with pytest.raises(ValueError, match="must say why"):
        Row.not_measured("s", "wall", "  ")
