"""A learner's first minutes: ``make lab``, then JupyterLab in a real browser.

JupyterLab starts exactly as ``make lab`` starts it, and the browser opens
the link it prints. The test does what the start page asks: run its check
cell, then follow its link to the first lesson, which opens with a kernel.
Autosave is off for this run (a user setting in a temporary folder), so
running a cell changes nothing on disk; the test checks that too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.plugin import PageLog
from tests.jupyter_servers import ROOT, Lab, make_lab

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.slow

START_PAGE = ROOT / "notebooks" / "00_start_here.ipynb"
FIRST_LESSON = ROOT / "notebooks" / "01_hello_world.ipynb"
#: JupyterLab is a large application; its first load takes a few seconds.
LAB_TIMEOUT_MS = 60_000


def title(notebook: Path) -> str:
    """The notebook's heading, as its first markdown cell writes it."""
    cells = json.loads(notebook.read_text())["cells"]
    first = next(c for c in cells if c["cell_type"] == "markdown")
    return "".join(first["source"]).splitlines()[0].removeprefix("# ").strip()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    no_autosave = {"@jupyterlab/docmanager-extension:plugin": {"autosave": False}}
    with make_lab(tmp_path_factory.mktemp("lab"), settings=no_autosave) as server:
        yield server


def notebook(page: Page, name: str) -> Locator:
    """The open notebook panel of the file ``name``."""
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=name)
    tab.wait_for(timeout=LAB_TIMEOUT_MS)
    panel_id = tab.get_attribute("data-id")
    return page.locator(f".jp-NotebookPanel[id='{panel_id}']")


def wait_for_kernel(panel: Locator) -> None:
    indicator = panel.locator(".jp-Notebook-ExecutionIndicator")
    indicator.and_(panel.locator("[data-status='idle']")).wait_for(
        timeout=LAB_TIMEOUT_MS
    )


def test_make_lab_opens_the_start_page_then_the_first_lesson(
    page: Page, page_log: PageLog, lab: Lab
) -> None:
    before = {path: digest(path) for path in (START_PAGE, FIRST_LESSON)}

    # The link make lab printed opens JupyterLab on the start page.
    page.goto(lab.printed_url())
    start = notebook(page, START_PAGE.name)
    heading = start.locator(".jp-RenderedMarkdown h1").first
    heading.wait_for(timeout=LAB_TIMEOUT_MS)
    assert heading.inner_text() == title(START_PAGE)
    wait_for_kernel(start)

    # "Run the cell below": the environment check passes in the course kernel.
    # Through the Run menu (the page's only code cell): clicking into a cell
    # and pressing Shift+Enter raced JupyterLab's rendering once in CI, and
    # ran nothing.
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    check = start.locator(".jp-CodeCell", has_text="find_spec")
    output = check.locator(".jp-OutputArea-output")
    output.wait_for()
    assert output.inner_text().startswith("Everything is installed.")

    # "What's next": its link opens lesson 01 in JupyterLab, with a kernel.
    start.get_by_role("link", name="01 · Hello world").click()
    lesson = notebook(page, FIRST_LESSON.name)
    lesson_heading = lesson.locator(".jp-RenderedMarkdown h1").first
    lesson_heading.wait_for(timeout=LAB_TIMEOUT_MS)
    assert lesson_heading.inner_text() == title(FIRST_LESSON)
    wait_for_kernel(lesson)

    assert page_log.errors == []
    # Running a cell saved nothing: the course's files are as they were.
    assert {path: digest(path) for path in before} == before
