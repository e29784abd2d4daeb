"""The ``coursekit`` command.

coursekit contract 02 --url http://127.0.0.1:8000   check a live server
coursekit contract 05 --list                         what chapter 05 checks
coursekit run notebooks/01_hello_world.ipynb         execute and save a notebook
coursekit build [--check]                            exercises/ from solutions/
coursekit grade-worker --broker redis://HOST:6379/0  grade for a Celery batch
coursekit gradescope 07 --out autograder.zip         a Gradescope autograder
coursekit site [--out build/site]                    the course as a website
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from coursekit.startup import skip_unused_slow_imports

# Before the commands import nbformat (and with it jsonschema).
skip_unused_slow_imports()

from coursekit.build import main as build_main  # noqa: E402
from coursekit.contracts.__main__ import main as contract_main  # noqa: E402
from coursekit.grading.autograder import main as gradescope_main  # noqa: E402
from coursekit.grading.cli import main as grade_main  # noqa: E402
from coursekit.grading.worker_cli import main as grade_worker_main  # noqa: E402
from coursekit.notebooks import main as run_main  # noqa: E402
from coursekit.site import main as site_main  # noqa: E402

COMMANDS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "contract": (contract_main, "check a live server against a chapter's contract"),
    "run": (run_main, "execute notebooks top to bottom and save their outputs"),
    "grade": (grade_main, "grade a batch of submitted notebooks (instructors)"),
    "grade-worker": (
        grade_worker_main,
        "grade what `coursekit grade --engine celery` queues, on this machine",
    ),
    "gradescope": (gradescope_main, "build a Gradescope autograder zip for a chapter"),
    "build": (build_main, "generate exercises/ from solutions/ (--check: up to date?)"),
    "site": (site_main, "build the course as a static website (default: build/site)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a sub-command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: coursekit COMMAND [ARGS]\n\ncommands:")
        for name, (_, summary) in COMMANDS.items():
            print(f"  {name:12} {summary}")
        print("\n`coursekit COMMAND --help` tells more.")
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(
            f"error: unknown command {args[0]!r}; choose from {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    return command[0](args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
