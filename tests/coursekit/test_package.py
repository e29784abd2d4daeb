"""The coursekit package: what it exports, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_checker_process_does_not_import_the_live_server() -> None:
    # `python -m coursekit.contracts` runs once per check() call; uvicorn and
    # the live server would add their import time to every one of them.
    out = _run(
        "import sys, coursekit.contracts.runner; "
        "print(sorted(m for m in ('uvicorn', 'coursekit.serve', 'IPython') "
        "if m in sys.modules))"
    )
    assert out == "[]"


@pytest.mark.parametrize(
    "first",
    ["pass", "import coursekit.check, coursekit.show, coursekit.serve"],
)
def test_the_exported_names_are_the_functions_whatever_was_imported_first(
    first: str,
) -> None:
    out = _run(
        f"{first}\n"
        "import coursekit\n"
        "from coursekit import check, serve, show, CourseError, LiveServer\n"
        "print(check.__module__, serve.__module__, show.__module__, "
        "coursekit.check is check, CourseError.__name__, LiveServer.__name__)"
    )
    assert out == (
        "coursekit.check coursekit.serve coursekit.show True CourseError LiveServer"
    )


def test_an_unknown_name_is_an_attribute_error() -> None:
    import coursekit

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        coursekit.nope  # noqa: B018
