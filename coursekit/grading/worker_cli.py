"""``coursekit grade-worker --broker URL``: grade what ``coursekit grade
--engine celery`` sends, on this machine, in the sandbox.

    coursekit grade-worker --broker redis://queue:6379/0 --concurrency 2

Run one per grading machine (a Kubernetes Deployment: deploy/k8s/). It
refuses to start where the sandbox cannot run, so that no submission is
ever graded with less isolation than a local ``--sandbox require`` run.
Stop it with SIGTERM (or Ctrl-C): it finishes the submission in hand, and
what it had not started goes back to the queue.

Exit status: 0 once stopped, 2 on bad usage or when it cannot start.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence

from coursekit.grading.celery_app import (
    DEFAULT_QUEUE,
    DEFAULT_VISIBILITY_TIMEOUT,
    BrokerError,
    make_app,
    redact,
)
from coursekit.grading.cli import USAGE_ERROR, _Parser, _positive

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="coursekit grade-worker",
        description="A Celery worker that grades the submissions `coursekit grade "
        "--engine celery` queues, each in the sandbox, on this machine.",
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("COURSEKIT_BROKER"),
        help="the Redis URL (default: $COURSEKIT_BROKER)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="submissions graded at once (default 1; about one per core)",
    )
    parser.add_argument(
        "--queue", default=DEFAULT_QUEUE, help=f"the queue (default {DEFAULT_QUEUE})"
    )
    parser.add_argument(
        "--visibility-timeout",
        type=_positive,
        default=DEFAULT_VISIBILITY_TIMEOUT,
        help="seconds before the task of a worker that died goes to another "
        f"(default {DEFAULT_VISIBILITY_TIMEOUT:g}; the coordinator's too)",
    )
    parser.add_argument(
        "--restore-interval",
        type=_positive,
        default=10.0,
        help="seconds between looks for such tasks (default 10)",
    )
    parser.add_argument(
        "--name",
        default=f"grader-{os.getpid()}@{socket.gethostname()}",
        help="the worker's name (default grader-PID@HOST)",
    )
    parser.add_argument(
        "--loglevel", default="info", choices=("debug", "info", "warning", "error")
    )
    return parser


def _check_sandbox() -> str | None:
    """Why this machine cannot grade in the sandbox, or None."""
    from coursekit.grading.isolation import Isolation, IsolationError

    try:
        isolation = Isolation(mode="require")
    except IsolationError as exc:
        return str(exc)
    return None if isolation.box is not None else "bubblewrap is not usable"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if not args.broker:
        print(
            "error: say which Redis to take tasks from: --broker "
            "redis://HOST:6379/0 (or set COURSEKIT_BROKER)",
            file=sys.stderr,
        )
        return USAGE_ERROR
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return USAGE_ERROR
    problem = _check_sandbox()
    if problem is not None:
        print(
            f"error: this machine cannot grade in the sandbox ({problem}); a "
            "worker never grades with less isolation. Install bubblewrap, or "
            "allow user namespaces in the container (README: Grading on many "
            "machines)",
            file=sys.stderr,
        )
        return USAGE_ERROR
    try:
        app = make_app(
            args.broker,
            queue=args.queue,
            visibility_timeout=args.visibility_timeout,
            restore_interval=args.restore_interval,
        )
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    from coursekit.grading.remote import RemoteError, check_broker

    try:
        check_broker(args.broker)
    except RemoteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    print(
        f"grade-worker {args.name}: taking submissions from {redact(args.broker)} "
        f"(queue {args.queue}), {args.concurrency} at a time",
        file=sys.stderr,
        flush=True,
    )
    # One line per request of every check would bury the worker's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app.worker_main(
        [
            "worker",
            f"--concurrency={args.concurrency}",
            f"--queues={args.queue}",
            f"--hostname={args.name}",
            f"--loglevel={args.loglevel}",
            "--prefetch-multiplier=1",
            # Neither is needed, and both slow down a start with many workers.
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
