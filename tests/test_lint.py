"""ruff, lint and format, over the code and the notebooks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")


@pytest.mark.parametrize(
    "command",
    [["check", "--output-format=concise", "."], ["format", "--check", "."]],
    ids=["check", "format"],
)
def test_ruff(command: list[str]) -> None:
    result = subprocess.run(
        [str(RUFF), *command], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
