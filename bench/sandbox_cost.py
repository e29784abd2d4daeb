"""What the grader's isolation costs each submission, measured side by side.

Part of section 5 (``bench.grading``). Each measurement is made in rounds,
its sides back to back within a round, their order rotating from round to
round (so no side always runs first, on a warmer cache):

- the bare launch: ``bwrap <the sandbox's arguments> -- /bin/true`` against
  ``/bin/true`` run directly, with the arguments of both sandboxes a
  submission gets: its kernel's, and the read-only one its own tests run in
  (``Confinement.wrap``, which builds them with
  ``coursekit.grading.sandbox.bubblewrap().command(...)``: the course
  view's binds, a user of its own when the grader is root);
- a kernel's start, to its first reply, through
  ``coursekit.grading.kernels.start_kernel`` with ``Isolation(mode="auto")``
  against ``Isolation(mode="off")`` (which copies the course, read-only,
  into the kernel's folder instead), nothing preloaded;
- the mutation testing of a chapter 02 solution's own test
  (``coursekit.grading.mutation.grade_learner_tests``) in its sandbox; every
  mutant must be caught. In its sandbox only: that is how the grader runs
  it.

A chapter 02 submission pays for both sandboxes: its kernel's start and the
launch of its tests' sandbox (``per_submission``).

Nothing here runs without a working bubblewrap: ``unavailable()`` says why,
and the section then reports these rows as not measured.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.context import Context
from coursekit.contracts.registry import EXERCISE_BASES, checks_for
from coursekit.grading.batch import KERNEL_ENV
from coursekit.grading.isolation import Isolation, remove_tree
from coursekit.grading.kernels import start_kernel, work_folder
from coursekit.grading.mutation import grade_learner_tests
from coursekit.grading.sandbox import SandboxUnavailable, bubblewrap
from coursekit.grading.variants import course_notebook

__all__ = ["Costs", "measure", "per_submission", "rotation", "unavailable"]

#: The chapter whose kernels and learner tests are measured: the one of the
#: section's mix that pays for both sandboxes.
CHAPTER = "02"
TRUE = "/bin/true"
#: The sides of the bare launch: bwrap as for a kernel, as for the tests.
LAUNCH_SIDES = ("kernel", "tests", "direct")
#: The sides of a kernel's start: the sandbox (auto), and --sandbox off.
KERNEL_SIDES = ("sandbox", "off")


def unavailable() -> str | None:
    """Why the sandbox cannot be measured here, or None when it can."""
    try:
        bubblewrap()
    except SandboxUnavailable as exc:
        return str(exc)
    return None


def rotation(sides: Sequence[str], round_: int) -> list[str]:
    """The order of ``sides`` in round ``round_``: each one first in turn."""
    shift = round_ % len(sides)
    return [*sides[shift:], *sides[:shift]]


def per_submission(kernel: Sequence[float], tests_launch: float) -> list[float]:
    """A chapter 02 submission's cost, per round of kernel starts.

    ``kernel``: what the kernel's sandbox cost in each round (paired
    differences, any unit); ``tests_launch``: what its tests' sandbox costs
    (the median of the bare launches' differences, same unit).
    """
    return [k + tests_launch for k in kernel]


@dataclass
class Costs:
    """Seconds per run, by side, rounds in order."""

    launch: dict[str, list[float]] = field(default_factory=dict)
    kernel: dict[str, list[float]] = field(default_factory=dict)
    #: The chapter 02 solution's own test graded, in its sandbox only.
    tests: list[float] = field(default_factory=list)


def _isolation(mode: str) -> Isolation:
    return Isolation(mode=mode, base=EXERCISE_BASES[CHAPTER], env=KERNEL_ENV)


def _launches(isolation: Isolation, rounds: int) -> dict[str, list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-bwrap-", dir=work_folder()))
    try:
        confinement = isolation.confine(folder)
        commands = {
            "kernel": confinement.wrap([TRUE]),
            "tests": confinement.wrap([TRUE], writable=False),
            "direct": [TRUE],
        }
        env = confinement.env()

        def run(side: str) -> float:
            start = time.perf_counter()
            done = subprocess.run(commands[side], env=env, capture_output=True)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(
                    f"{TRUE} ({side}) exited {done.returncode}: "
                    f"{done.stderr.decode(errors='replace').strip()[:300]}"
                )
            return elapsed

        for side in LAUNCH_SIDES:  # once each, unmeasured: programs loaded
            run(side)
        found: dict[str, list[float]] = {side: [] for side in LAUNCH_SIDES}
        for round_ in range(rounds):
            for side in rotation(LAUNCH_SIDES, round_):
                found[side].append(run(side))
        confinement.remove()
        return found
    finally:
        remove_tree(folder)


async def _kernel_start(isolation: Isolation) -> float:
    start = time.perf_counter()
    kernel = await start_kernel(isolation=isolation, preload=())
    elapsed = time.perf_counter() - start
    await kernel.shutdown()
    return elapsed


async def _tests(isolation: Isolation, cells: list[str]) -> float:
    if isolation.box is None:
        # The grader never runs a learner's tests without the sandbox.
        raise RuntimeError("learner tests are only ever run in the sandbox")
    mutants = [c for c in checks_for(CHAPTER) if c.is_mutant]
    start = time.perf_counter()
    results = await grade_learner_tests(cells, mutants, isolation)
    elapsed = time.perf_counter() - start
    wrong = [r for r in results if r.points != r.max_points]
    if len(results) != len(mutants) or wrong:
        example = f": {wrong[0].name}: {wrong[0].message[:200]}" if wrong else ""
        raise RuntimeError(
            f"chapter {CHAPTER}'s solution did not catch every mutant in the "
            f"sandbox: {len(wrong)} of {len(results)} wrong{example}"
        )
    return elapsed


def measure(ctx: Context, *, launches: int, rounds: int, tests: int) -> Costs:
    """``launches`` rounds of bare launches, ``rounds`` of kernel starts, and
    the learner tests graded in ``tests`` of those rounds (the first ones).

    Raises RuntimeError when a run fails (a wrong result is not timed).
    """
    sides = {"sandbox": _isolation("require"), "off": _isolation("off")}
    costs = Costs(launch=_launches(sides["sandbox"], launches))
    ctx.log(f"grading: {launches} rounds of bare launches")
    solution = course_notebook("solutions", CHAPTER)
    cells = [c.source for c in solution.cells if c.cell_type == "code"]

    async def kernels_and_tests() -> None:
        # One event loop for all kernels, as a grading thread has.
        for side in KERNEL_SIDES:  # warm-up, unmeasured
            await _kernel_start(sides[side])
        kernel: dict[str, list[float]] = {side: [] for side in KERNEL_SIDES}
        for round_ in range(rounds):
            for side in rotation(KERNEL_SIDES, round_):
                kernel[side].append(await _kernel_start(sides[side]))
            if round_ < tests:
                costs.tests.append(await _tests(sides["sandbox"], cells))
        costs.kernel = kernel

    asyncio.run(kernels_and_tests())
    ctx.log(f"grading: {rounds} rounds of kernel starts, {tests} of learner tests")
    return costs
