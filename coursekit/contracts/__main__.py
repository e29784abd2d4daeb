"""Run a chapter's contract against a live server, from any process.

    python -m coursekit.contracts 02 --url http://127.0.0.1:8000
    python -m coursekit.contracts 05 --url ... --task login --json
    python -m coursekit.contracts 05 --list

Exit status: 0 when no check failed, 1 when some did, 2 on bad usage (an
unknown chapter or task, a URL where nothing answers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from coursekit.contracts.registry import CHAPTERS, checks_for
from coursekit.contracts.runner import (
    CHECK_TIMEOUT,
    REDIS_URL_ENV,
    SECRET_KEY_ENV,
    ServerUnreachable,
    format_report,
    probe,
    run_checks,
)
from coursekit.contracts.stored import StoredFiles

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the caller is often a notebook cell.
        self.exit(USAGE_ERROR, f"error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m coursekit.contracts",
        description="Check a live server against a chapter's contract.",
    )
    first, last = min(CHAPTERS), max(CHAPTERS)
    parser.add_argument("chapter", help=f"chapter number: {first} to {last}")
    parser.add_argument("--url", help="base URL of the server to check")
    parser.add_argument("--task", help="run only the checks of this task")
    parser.add_argument(
        "--json", action="store_true", help="print every result as JSON"
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get(SECRET_KEY_ENV),
        help="the server's SECRET_KEY, for checks that sign their own tokens "
        f"(default: ${SECRET_KEY_ENV}, which keeps it off the command line)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get(REDIS_URL_ENV),
        help="the Redis the app uses, for the checks that look into it "
        f"(default: ${REDIS_URL_ENV}, as the app's settings read it)",
    )
    parser.add_argument(
        "--files",
        type=Path,
        action="append",
        help="a folder the app writes its files to (repeatable), for the checks "
        "that read what it stored; without it they are skipped",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=CHECK_TIMEOUT,
        help=f"seconds each check may take (default {CHECK_TIMEOUT:g})",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the checks instead of running"
    )
    return parser


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        checks = checks_for(args.chapter, args.task)
    except ValueError as exc:
        return _fail(str(exc))
    if args.list:
        for c in checks:
            kind = (
                f"  (your `{c.test_function}` must catch: {c.bug})"
                if c.is_mutant
                else ""
            )
            print(f"{c.task} / {c.name}  {c.points} pt  {c.hint}{kind}")
        return 0
    if not args.url:
        return _fail("--url is required to run checks")
    if all(c.is_mutant for c in checks):
        return _fail(
            f"task {args.task} is a test the learner writes: it is graded by "
            "running the notebook's test (check() in the notebook, or coursekit "
            "grade), not against a server"
        )
    if args.timeout <= 0:
        return _fail("--timeout must be positive")
    try:
        probe(args.url)
    except ServerUnreachable as exc:
        return _fail(str(exc))
    checks = [c for c in checks if not c.is_mutant]
    results = run_checks(
        args.url,
        args.chapter,
        args.task,
        secret_key=args.secret_key,
        timeout=args.timeout,
        files=StoredFiles(args.files) if args.files else None,
        redis_url=args.redis_url,
    )
    if args.json:
        report = {
            "chapter": checks[0].chapter,
            "task": args.task,
            "points": sum(r.points for r in results),
            "max_points": sum(r.max_points for r in results),
            "passed": all(r.status in ("passed", "skipped") for r in results),
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(format_report(results))
    failed = any(r.status in ("failed", "error") for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    # A console that cannot show ✓ and ✗ gets "?" rather than a traceback.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    sys.exit(main())
