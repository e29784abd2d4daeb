"""bench.stats: medians, spreads, paired ratios and goal verdicts."""

from __future__ import annotations

import pytest

from bench.__main__ import table
from bench.stats import Goal, Row, Sample, ratios


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
