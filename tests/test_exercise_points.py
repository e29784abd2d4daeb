"""Each exercise task's heading states the points its checks are worth."""

from __future__ import annotations

import re

import pytest

from coursekit.contracts.registry import checks_for
from coursekit.grading.variants import NAMES, course_notebook

HEADING = re.compile(r"^## Task \d+ · `?(\w+)`? \((\d+) points?\)", re.M)


@pytest.mark.parametrize("chapter", NAMES)
def test_task_headings_state_the_contract_s_points(chapter: str) -> None:
    stated = {
        match[1]: int(match[2])
        for cell in course_notebook("solutions", chapter).cells
        if cell.cell_type == "markdown"
        for match in HEADING.finditer(cell.source)
    }
    contract: dict[str, int] = {}
    for check in checks_for(chapter):
        contract[check.task] = contract.get(check.task, 0) + check.points
    assert stated == contract
