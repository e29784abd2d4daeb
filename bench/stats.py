"""What a benchmark row holds: several measured values, a goal, a note.

Every figure is reported as the median of its runs with the min-max spread,
so one noisy run neither makes nor breaks a goal unnoticed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Goal", "Row", "Sample", "differences", "ratios"]


@dataclass(frozen=True)
class Sample:
    """The values of several runs of one measurement, in ``unit``."""

    values: tuple[float, ...]
    unit: str

    def __init__(self, values: Sequence[float], unit: str) -> None:
        if not values:
            raise ValueError("a sample needs at least one measured value")
        object.__setattr__(self, "values", tuple(float(v) for v in values))
        object.__setattr__(self, "unit", unit)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def fmt(self, value: float) -> str:
        """``value`` with as many digits as its size deserves, and the unit."""
        if self.unit == "x":
            return f"{value:.2f}x"
        magnitude = abs(value)
        if magnitude >= 100:
            text = f"{value:,.0f}"
        elif magnitude >= 10:
            text = f"{value:.1f}"
        else:
            text = f"{value:.2f}"
        return f"{text} {self.unit}" if self.unit else text

    @property
    def spread(self) -> str:
        """``min-max``, or a dash for a single run."""
        if len(self.values) == 1:
            return "one run"
        return f"{self.fmt(self.low)} .. {self.fmt(self.high)}"


def ratios(top: Sequence[float], bottom: Sequence[float], *, unit: str = "x") -> Sample:
    """Run-by-run ratios ``top[i] / bottom[i]`` of runs made side by side.

    Pairing the runs (rather than dividing two medians) keeps a slow moment
    of the machine, which hits both runs of a pair, out of the ratio.
    """
    if len(top) != len(bottom):
        raise ValueError(f"cannot pair {len(top)} runs with {len(bottom)} runs")
    return Sample([t / b for t, b in zip(top, bottom, strict=True)], unit)


def differences(
    top: Sequence[float],
    bottom: Sequence[float],
    *,
    unit: str = "ms",
    scale: float = 1000.0,
) -> Sample:
    """Run-by-run differences ``(top[i] - bottom[i]) * scale`` of paired runs.

    What one side costs on top of the other, in ``unit`` (by default seconds
    measured, milliseconds reported). Like ``ratios``, pairing keeps a slow
    moment of the machine, which hits both runs of a pair, out of it.
    """
    if len(top) != len(bottom):
        raise ValueError(f"cannot pair {len(top)} runs with {len(bottom)} runs")
    return Sample([(t - b) * scale for t, b in zip(top, bottom, strict=True)], unit)


@dataclass(frozen=True)
class Goal:
    """A target for a row's median: ``<= 25 ms`` or ``>= 0.6x``."""

    op: str  # "<=" or ">="
    target: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ValueError(f"a goal is <= or >=, not {self.op!r}")

    def met(self, value: float) -> bool:
        return value <= self.target if self.op == "<=" else value >= self.target

    def __str__(self) -> str:
        if self.unit == "x":
            return f"{self.op} {self.target:g}x"
        return f"{self.op} {self.target:g} {self.unit}".rstrip()

    def verdict(self, value: float) -> str:
        """``met``, or ``missed by N%`` measured against the target."""
        if self.met(value):
            return "met"
        if self.target == 0:
            return "missed"
        # How far off, as a share of the target: "missed by 0.4%" says a near
        # miss plainly, where "1.0x the limit" would hide it.
        off = value / self.target - 1 if self.op == "<=" else 1 - value / self.target
        if off < 0.001:
            return "missed by under 0.1%"
        return f"missed by {off:.1%}" if off < 0.1 else f"missed by {off:.0%}"


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    A row without a ``sample`` is a measurement the section refused to make
    (``Row.not_measured``): the table says so, and why, instead of a number.
    """

    section: str
    what: str
    sample: Sample | None
    goal: Goal | None = None
    note: str = ""

    @classmethod
    def not_measured(
        cls, section: str, what: str, reason: str, goal: Goal | None = None
    ) -> Row:
        """A row that says why it holds no figure (and that its goal is unmet)."""
        if not reason.strip():
            raise ValueError("a row without a figure must say why")
        return cls(section, what, None, goal, f"not measured: {reason.strip()}")

    def cells(self) -> dict[str, str]:
        if self.sample is None:
            return {
                "what": self.what,
                "median": "not measured",
                "spread (min .. max)": "-",
                "runs": "0",
                "goal": "" if self.goal is None else f"{self.goal} (not measured)",
                "note": self.note,
            }
        goal = ""
        if self.goal is not None:
            goal = f"{self.goal} ({self.goal.verdict(self.sample.median)})"
        return {
            "what": self.what,
            "median": self.sample.fmt(self.sample.median),
            "spread (min .. max)": self.sample.spread,
            "runs": str(len(self.sample.values)),
            "goal": goal,
            "note": self.note,
        }
