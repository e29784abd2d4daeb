"""The coursekit command, run as an installed console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

COURSEKIT = Path(sys.executable).with_name("coursekit")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COURSEKIT), *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "contract" in result.stdout


def test_no_command_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage: coursekit COMMAND" in result.stdout


def test_unknown_command_is_one_clear_line() -> None:
    result = run("grdae")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: unknown command 'grdae'; choose from contract, run, "
    )
    assert result.stderr.count("\n") == 1


def test_contract_lists_a_chapters_checks() -> None:
    result = run("contract", "01", "--list")
    assert result.returncode == 0, result.stderr
    assert "read_item / item_id_is_int" in result.stdout
