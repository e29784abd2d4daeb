"""Each chapter's expected behaviour, written once as black-box HTTP checks.

    from coursekit.contracts import run_checks, format_report
    print(format_report(run_checks("http://127.0.0.1:8000", "02")))

or, from another process: ``python -m coursekit.contracts 02 --url ...``.
"""

from coursekit.contracts.expect import CheckFailed, CheckSkipped
from coursekit.contracts.registry import (
    CHAPTERS,
    Check,
    UnknownChapter,
    UnknownTask,
    check,
    checks_for,
    tasks_for,
)
from coursekit.contracts.runner import (
    CheckResult,
    ServerUnreachable,
    format_report,
    probe,
    run_check,
    run_checks,
)

__all__ = [
    "CHAPTERS",
    "Check",
    "CheckFailed",
    "CheckResult",
    "CheckSkipped",
    "ServerUnreachable",
    "UnknownChapter",
    "UnknownTask",
    "check",
    "checks_for",
    "format_report",
    "probe",
    "run_check",
    "run_checks",
    "tasks_for",
]
