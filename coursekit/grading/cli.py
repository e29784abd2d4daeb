"""``coursekit grade SUBMISSIONS...``: grade a batch of notebooks.

    coursekit grade submissions/ --out grades --jobs 2
    coursekit grade alice.ipynb bob.ipynb --chapter 02 --hidden hidden_checks/
    coursekit grade submissions/ --sandbox require   # refuse without bubblewrap
    coursekit grade submissions/ --roster class.csv  # + Canvas and Moodle files
    coursekit grade submissions/ --engine celery --broker redis://queue:6379/0

Exit status: 0 when the batch ran (whatever the grades), 2 on bad usage or
when the batch cannot start or go on (no sandbox with ``--sandbox
require``, the course changed under it), 130 when interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from coursekit.grading.batch import GradeError, GradeSettings, grade_batch
from coursekit.grading.celery_app import DEFAULT_QUEUE, DEFAULT_VISIBILITY_TIMEOUT
from coursekit.grading.isolation import MODES
from coursekit.grading.limits import MIB, ResourceLimits
from coursekit.grading.submission import Limits, find_submissions

__all__ = ["main"]

USAGE_ERROR = 2
INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"error: {message} (see --help)\n")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number, not {text}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    defaults = Limits()
    resources = ResourceLimits()
    parser = _Parser(
        prog="coursekit grade",
        description="Run each submitted notebook in a fresh kernel, serve its "
        "`app` and grade it against the chapter's contract. Writes grades.csv, "
        "results.json, feedback/<submission>.txt and gradescope/<submission>.json "
        "into --out (with --roster, also the LMS gradebooks).",
    )
    parser.add_argument(
        "submissions", nargs="+", type=Path, help=".ipynb files or folders of them"
    )
    parser.add_argument(
        "--chapter", help="chapter number (default: the NN_ prefix of the file names)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("grades"), help="output folder (grades/)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="kernels to run at once (default 1)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=defaults.timeout,
        help=f"seconds a whole notebook may run (default {defaults.timeout:g})",
    )
    parser.add_argument(
        "--cell-timeout",
        type=_positive,
        default=defaults.cell_timeout,
        help=f"seconds one cell may run (default {defaults.cell_timeout:g})",
    )
    parser.add_argument(
        "--hidden",
        type=Path,
        help="folder of .py files declaring extra checks with "
        "coursekit.contracts.registry.check",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="re-grade submissions already graded with the same content, and "
        "retry those that stopped the grader twice",
    )
    parser.add_argument(
        "--sandbox",
        choices=MODES,
        default="auto",
        help="isolate each kernel with bubblewrap: auto (when it works here, "
        "else grade with weaker isolation and say so in every row), require "
        "(refuse to grade without it), off (default: auto)",
    )
    parser.add_argument(
        "--memory",
        type=_positive_int,
        default=resources.memory // MIB,
        help=f"MiB of memory per submission (default {resources.memory // MIB})",
    )
    parser.add_argument(
        "--disk",
        type=_positive_int,
        default=resources.disk // MIB,
        help="MiB of files a submission may write (any one file: half of it; "
        f"default {resources.disk // MIB})",
    )
    parser.add_argument(
        "--processes",
        type=_positive_int,
        default=resources.processes,
        help="processes and threads per submission at once "
        f"(default {resources.processes})",
    )
    parser.add_argument(
        "--roster",
        type=Path,
        help="CSV of student_id, name, submission: also write gradebook.csv, "
        "and canvas.csv and moodle.csv to import into Canvas or Moodle",
    )
    parser.add_argument(
        "--assignment",
        help="the grade's column in canvas.csv and moodle.csv (default \"Chapter "
        'NN: <title>"; for an existing Canvas assignment, its header in a '
        'Canvas export, such as "Chapter 07 (12345)")',
    )
    engine = parser.add_argument_group(
        "grading on many machines",
        "Send the submissions to Celery workers (`coursekit grade-worker`) "
        "through Redis; only this command writes --out.",
    )
    engine.add_argument(
        "--engine",
        choices=("local", "celery"),
        default="local",
        help="local: this machine's kernels (default); celery: the workers of --broker",
    )
    engine.add_argument(
        "--broker",
        default=os.environ.get("COURSEKIT_BROKER"),
        help="the Redis URL the workers use (default: $COURSEKIT_BROKER)",
    )
    engine.add_argument(
        "--queue",
        default=DEFAULT_QUEUE,
        help=f"the Celery queue (default {DEFAULT_QUEUE}; the workers' --queue)",
    )
    engine.add_argument(
        "--visibility-timeout",
        type=_positive,
        default=DEFAULT_VISIBILITY_TIMEOUT,
        help="seconds before a dead worker's task goes to another; the same as "
        f"the workers' (default {DEFAULT_VISIBILITY_TIMEOUT:g})",
    )
    engine.add_argument(
        "--wait-workers",
        type=_positive,
        default=120.0,
        help="seconds to wait for a first worker to answer (default 120)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return USAGE_ERROR
    settings = GradeSettings(
        out=args.out,
        chapter=args.chapter,
        jobs=args.jobs,
        limits=Limits(cell_timeout=args.cell_timeout, timeout=args.timeout),
        hidden=args.hidden,
        force=args.force,
        sandbox=args.sandbox,
        resources=ResourceLimits(
            memory=args.memory * MIB,
            processes=args.processes,
            disk=args.disk * MIB,
            file_size=args.disk * MIB // 2,
            # A detached busy loop ends too, a little after the notebook's time.
            cpu_seconds=int(args.timeout) + 60,
        ),
        roster=args.roster,
        assignment=args.assignment,
        engine=args.engine,
        broker=args.broker,
        queue=args.queue,
        visibility_timeout=args.visibility_timeout,
        wait_workers=args.wait_workers,
    )
    try:
        submissions = find_submissions(args.submissions)
        grade_batch(submissions, settings)
    except (OSError, GradeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        # Every kernel is shut down by now; what was graded is written.
        print("interrupted: what was graded is in --out", file=sys.stderr)
        return INTERRUPTED
    return 0
