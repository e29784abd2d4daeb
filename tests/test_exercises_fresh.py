"""The committed exercises are exactly what `coursekit build` makes today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COURSEKIT = Path(sys.executable).with_name("coursekit")


def test_exercises_are_built_from_the_current_solutions() -> None:
    if not list((ROOT / "solutions").glob("*.ipynb")):
        pytest.skip("solutions/ has no notebooks yet, so there is nothing to build")
    result = subprocess.run(
        [str(COURSEKIT), "build", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        "exercises/ is out of date with solutions/:\n" + result.stdout + result.stderr
    )
