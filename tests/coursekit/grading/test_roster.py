"""``--roster``: reading it, and finding each learner's submission."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursekit.grading.roster import (
    RosterError,
    Student,
    match_submissions,
    read_roster,
)


def _roster(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "class.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_a_roster_is_read_with_its_header_spelled_as_people_spell_it(
    tmp_path: Path,
) -> None:
    path = _roster(
        tmp_path,
        "\ufeffSIS User ID,Full Name,Section,Submission File\n"
        "s1,Ada Lovelace,A,alice/07_production.ipynb\n"
        "\n"
        's2,"Hopper, Grace",B,\n',
    )
    assert read_roster(path) == [
        Student("s1", "Ada Lovelace", "alice/07_production.ipynb"),
        Student("s2", "Hopper, Grace", ""),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty"),
        ("id,name\ns1,Ada\n", "has no submission column (its header is id, name)"),
        ("id,name,file\n", "has a header but no learners"),
        ("id,name,file\n,Ada,a.ipynb\n", "line 2 has no student id"),
        ("id,name,file\ns1,Ada,a.ipynb\ns1,Bob,b.ipynb\n", "already on line 2"),
        ("id,name,file\ns1,Ada,a.ipynb\ns2,Bob,a.ipynb\n", "submission of line 2"),
    ],
)
def test_a_bad_roster_is_refused_with_what_to_fix(
    tmp_path: Path, text: str, says: str
) -> None:
    with pytest.raises(RosterError, match="--roster") as raised:
        read_roster(_roster(tmp_path, text))
    assert says in str(raised.value)


def test_a_roster_that_is_not_utf8_or_not_there_is_refused(tmp_path: Path) -> None:
    latin = _roster(tmp_path, "id,name,file\ns1,Zoë,a.ipynb\n", encoding="latin-1")
    with pytest.raises(RosterError, match="not UTF-8 text; save it as CSV UTF-8"):
        read_roster(latin)
    with pytest.raises(RosterError, match="no such file"):
        read_roster(tmp_path / "nope.csv")


def test_submissions_are_found_by_name_path_or_unique_file_name(
    tmp_path: Path,
) -> None:
    subs = tmp_path / "subs"
    graded = {
        "alice/07.ipynb": subs / "alice" / "07.ipynb",
        "bob/07.ipynb": subs / "bob" / "07.ipynb",
        "carol_07.ipynb": subs / "carol_07.ipynb",
    }
    students = [
        Student("a", "Alice", "alice/07.ipynb"),  # as grades.csv names it
        Student("b", "Bob", "subs/bob/07.ipynb"),  # a path from the roster
        Student("c", "Carol", "carol_07.ipynb"),
        Student("d", "Dan", "07.ipynb"),  # two submissions have that name
        Student("e", "Eve", "eve.ipynb"),  # handed in nothing graded
        Student("f", "Fay", ""),
    ]
    matched = match_submissions(students, graded, roster_folder=tmp_path)
    assert matched == {
        "a": "alice/07.ipynb",
        "b": "bob/07.ipynb",
        "c": "carol_07.ipynb",
    }
