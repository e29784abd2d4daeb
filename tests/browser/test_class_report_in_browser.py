"""The class report (``report.html``) in a real browser, opened as a file.

An instructor opens it by double-clicking it, maybe on a machine without
internet: from a ``file://`` URL, with JavaScript off (the page has none,
and needs none), it must show every section, draw the histogram, and ask
nothing of any other origin. The page is saved as a screenshot in
``test-artifacts/browser/class_report.png`` every time, to look at.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from coursekit.contracts.runner import CheckResult
from coursekit.grading.class_report import write_class_report
from coursekit.grading.report import GRADED, Record
from coursekit.grading.similarity import REFERENCE, SimilarPair
from tests.browser.plugin import PageLog, artifacts_dir, save_artifacts

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

TASKS = ["root", "items"]
CHECKS = [
    ("01.root_hello", "root", "GET / says hello", 1),
    ("01.items_read", "items", "GET /items/{id} answers", 2),
    ("01.items_type", "items", "item_id is an integer", 1),
]
HOSTILE = "<script>alert(1)</script>.ipynb"
NOT_JSON = "not graded: the notebook is not valid JSON (Expecting value: line 1)"
WEAKER = "weaker: bubblewrap cannot run here (no user namespaces)"
SECTIONS = ["summary", "histogram", "tasks", "failures", "not-graded", "isolation"]


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    # No JavaScript at all: the report must not need any.
    return {"viewport": {"width": 1100, "height": 900}, "java_script_enabled": False}


def record(name: str, failed: dict[str, str], status: str = GRADED) -> Record:
    results = [
        CheckResult(
            id=check_id,
            chapter="01",
            task=task,
            name=title,
            status="skipped"
            if status != GRADED
            else ("failed" if check_id in failed else "passed"),
            points=0 if status != GRADED or check_id in failed else points,
            max_points=points,
            hint="",
            message=failed.get(check_id, ""),
        )
        for check_id, task, title, points in CHECKS
    ]
    return Record.build(
        submission=name,
        path=name,
        sha256="0" * 64,
        chapter="01",
        status=status,
        results=results,
        cell_errors=["cell 3: NameError: name 'itme' is not defined"]
        if "bob" in name
        else [],
        notes=[],
        duration=1.0,
        isolation=["rlimits", "own session"],
        isolation_level=WEAKER,
    )


def the_class() -> list[Record]:
    records = [record(f"learner{i:02}_01.ipynb", {}) for i in range(8)]
    records += [
        record(f"bob{i}_01.ipynb", {"01.items_type": f"expected 3, got {i + 4}"})
        for i in range(3)
    ]
    records.append(record(HOSTILE, {"01.root_hello": "status 404, expected 200"}))
    records.append(record("eve_01.ipynb", {}, status=NOT_JSON))
    return records


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, list[Record]]:
    records = the_class()
    path = write_class_report(
        tmp_path,
        records,
        TASKS,
        chapter="01",
        similar=[
            SimilarPair("bob0_01.ipynb", "bob1_01.ipynb", 0.91, "pair"),
            SimilarPair(HOSTILE, REFERENCE, 0.88, "reference"),
        ],
        written=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )
    return path, records


def test_the_class_report_opens_offline_and_shows_every_section(
    page: Page, page_log: PageLog, report: tuple[Path, list[Record]]
) -> None:
    path, records = report
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")

    # Nothing but the file itself was asked for, nothing failed or raised,
    # and the CSP had nothing to refuse (the console would say so).
    assert page_log.elsewhere("file://") == [], page_log.requests
    assert page_log.requests == [f"GET {path.as_uri()}"]
    assert page_log.failed == [] and page_log.errors == []
    assert page_log.console == []

    for anchor in [*SECTIONS, "similarity"]:
        assert page.locator(f"#{anchor}").is_visible(), anchor

    graded = [r for r in records if r.status == GRADED]
    summary = page.locator("#summary").inner_text()
    assert f"Submissions\t{len(records)}" in summary
    assert f"Graded\t{len(graded)}" in summary
    assert f"Not graded\t{len(records) - len(graded)}" in summary

    # The histogram is drawn, and its numbers are there as text too.
    box = page.locator("#histogram svg").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    assert page.locator("#histogram figcaption").is_visible()
    full = sum(r.total == r.max for r in graded)
    assert f"{graded[0].max}\t{full}" in page.locator("#histogram table").inner_text()

    # 9 of the 11 graded learners have item_id right; the three bobs' "got
    # 4/5/6" are one failure of three learners, listed first.
    passed = sum(
        any(r["id"] == "01.items_type" and r["status"] == "passed" for r in g.results)
        for g in graded
    )
    type_row = page.locator("#tasks tr", has_text="item_id is an integer")
    assert f"{passed} of {len(graded)}" in type_row.inner_text()
    first = page.locator("#failures tbody tr").first.inner_text()
    assert "item_id is an integer" in first and first.rstrip().endswith("3")

    # The hostile name is text on the page, not a script that ran.
    assert dialogs == []
    assert page.locator("script").count() == 0
    assert HOSTILE in page.locator("#similarity").inner_text()
    assert NOT_JSON in page.locator("#not-graded").inner_text()
    assert page.locator("#isolation .warning").is_visible()
    assert "WEAKER" in page.locator("#isolation .warning").inner_text()
    assert "not a verdict" in page.locator("#similarity").inner_text()

    saved = save_artifacts([page], page_log, "class_report")
    assert artifacts_dir() / "class_report.png" in saved

    # Printed, the section links go; everything else stays.
    page.emulate_media(media="print")
    assert not page.locator("nav").is_visible()
    assert page.locator("#histogram svg").is_visible()
