"""A failing browser test leaves a screenshot, its HTML and a log behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.browser.plugin import ARTIFACTS_ENV, ROOT

TESTS = """
def test_passes(page):
    page.set_content("<h1>All good</h1>")
    assert page.locator("h1").inner_text() == "All good"


def test_fails(page):
    page.set_content("<h1>Hello from a failing test</h1>")
    assert page.locator("h1").inner_text() == "Goodbye"
"""


def test_a_failing_browser_test_saves_what_its_page_showed(
    tmp_path: Path, chromium_executable: Path
) -> None:
    # A pytest run of its own, with the browser fixtures as a plugin, on a
    # file with one passing and one failing test.
    (tmp_path / "test_pages.py").write_text(TESTS)
    artifacts = tmp_path / "artifacts"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        ARTIFACTS_ENV: str(artifacts),
        "CHROMIUM": str(chromium_executable),
    }
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "tests.browser.plugin"),
            *("-p", "no:cacheprovider", "-q", "test_pages.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout

    folder = artifacts / "browser"
    stem = "test_pages.py_test_fails"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{stem}.html",
        f"{stem}.log",
        f"{stem}.png",
    ]
    assert (folder / f"{stem}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "Hello from a failing test" in (folder / f"{stem}.html").read_text()
    # The failure report says where they are.
    assert "browser artifacts" in run.stdout
    assert str(folder / f"{stem}.png") in run.stdout
