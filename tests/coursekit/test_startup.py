"""The slow optional import stays out, and notebooks are still validated."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest


def test_pytest_here_runs_without_rfc3987_syntax() -> None:
    # pyproject's addopts load coursekit.pytest_plugin before nbval.
    assert sys.modules.get("rfc3987_syntax", "absent") is None


def test_the_cli_skips_it_too() -> None:
    code = (
        "import sys, coursekit.cli; "
        "print(sys.modules.get('rfc3987_syntax', 'absent'), "
        "'nbformat' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["None", "True"], out.stderr


def test_nbformat_still_rejects_an_invalid_notebook() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("1"))
    nbformat.validate(nb)
    nb.cells[0]["cell_type"] = "bogus"
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(nb)


def test_make_labs_jupyterlab_skips_it_too() -> None:
    # The Jupyter server's own imports (jupyter_events) reach jsonschema.
    code = (
        "import sys; sys.argv = ['lab', '--version']; "
        "import coursekit.lab\n"
        "try:\n    coursekit.lab.main()\n"
        "except SystemExit:\n    pass\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'), "
        "'jupyter_events' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split()[-2:] == ["None", "True"], out.stdout + out.stderr
