"""The registry: every chapter's checks are well formed and found by name."""

import pytest

from coursekit.contracts import (
    CHAPTERS,
    UnknownChapter,
    UnknownTask,
    check,
    checks_for,
    tasks_for,
)
from coursekit.contracts.registry import normalize_chapter


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_chapter_checks_are_well_formed(chapter: str) -> None:
    checks = checks_for(chapter)
    assert 3 <= len(tasks_for(chapter)) <= 6
    assert len({c.name for c in checks}) == len(checks)
    for c in checks:
        assert c.chapter == chapter
        assert 1 <= c.points <= 3
        assert c.hint.endswith(".") and "\n" not in c.hint
        assert c.id == f"ch{chapter}-{c.task}-{c.name}"


def test_chapter_names() -> None:
    assert {normalize_chapter(n) for n in (2, "2", "02", "ch02", " CH02 ")} == {"02"}
    for bad in ("12", "00", "two", ""):
        with pytest.raises(UnknownChapter):
            normalize_chapter(bad)


def test_task_selection() -> None:
    assert [c.name for c in checks_for("01", "docs")] == [
        "no_swagger_ui",
        "no_redoc",
        "root_undocumented",
        "item_id_documented_as_text",
        "q_required",
    ]
    assert {c.test_function for c in checks_for("01", "docs")} == {"test_docs"}
    with pytest.raises(UnknownTask, match="known: root, read_item"):
        checks_for("01", "nope")


def test_check_decorator_guards() -> None:
    with pytest.raises(ValueError, match="not a chNN_ chapter module"):
        check(task="t", points=1, hint="h.")(lambda client: None)
    with pytest.raises(ValueError, match=r"points must be 1\.\.3"):
        check(task="t", points=5, hint="h.")
