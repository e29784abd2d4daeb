"""Near-copies: planted copies are found, honest work and given code are not.

Every submission is a real notebook: the course's exercise and solution, an
edited copy of the solution, or the released exercise with honest answers
(``similarity_fixtures/``) spliced into its task cells.
"""

from __future__ import annotations

import ast
import builtins
import csv
import io
import keyword
import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from coursekit.build import CODE_BEGIN, CODE_END
from coursekit.grading.similarity import (
    REFERENCE,
    SimilarityResult,
    SimilarPair,
    find_similar,
    write_csv,
)
from coursekit.grading.variants import course_notebook

FIXTURES = Path(__file__).parent / "similarity_fixtures"
CHAPTERS = ["02", "03", "04", "05", "06", "07"]
_TASK_MARK = re.compile(r"^# task: (\w+)\n", re.MULTILINE)
# The placeholder `coursekit build` writes, naming its task.
_PLACEHOLDER = re.compile(
    r"# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\n"
    r'[ \t]*"Task (\w+):(?:.*\n)*?[ \t]*\)'
)


# -- building submissions -------------------------------------------------------


def answered(chapter: str, answers_file: Path) -> nbformat.NotebookNode:
    """The released exercise with each task's placeholder replaced by an answer."""
    parts = _TASK_MARK.split(answers_file.read_text(encoding="utf-8"))
    answers = dict(zip(parts[1::2], parts[2::2], strict=True))
    nb = course_notebook("exercises", chapter)
    used = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        match = _PLACEHOLDER.search(cell.source)
        if match is None:
            continue
        task = match.group(1)
        used.add(task)
        answer = answers[task].strip("\n")
        cell.source = cell.source[: match.start()] + answer + cell.source[match.end() :]
    assert used == set(answers), "an answer has no task, or a task no answer"
    return nb


def _edit_regions(
    nb: nbformat.NotebookNode, edit: Callable[[str], str]
) -> nbformat.NotebookNode:
    """``nb`` with the text of each solution region passed through ``edit``."""
    for cell in nb.cells:
        if cell.cell_type != "code" or CODE_BEGIN not in cell.source:
            continue
        before, rest = cell.source.split(CODE_BEGIN + "\n", 1)
        region, after = rest.split(CODE_END, 1)
        cell.source = before + CODE_BEGIN + "\n" + edit(region) + CODE_END + after
    return nb


def _top_level_blocks(region: str) -> list[str]:
    """The region cut before each top-level statement (decorators stay with theirs)."""
    blocks = [""]
    for line in region.splitlines(keepends=True):
        opens = line[:1].strip() != "" and not line.startswith((")", "]", "}"))
        pending = blocks[-1].strip().splitlines()
        if opens and pending and not all(p.startswith(("@", "#")) for p in pending):
            blocks.append("")
        blocks[-1] += line
    return [block for block in blocks if block.strip()]


def near_copy(chapter: str) -> nbformat.NotebookNode:
    """The solution with comments added, its definitions reordered, lines changed.

    In each region: a comment above every ``def`` and ``return``, the first
    two top-level definitions swapped, the first ``return X`` turned into
    ``result = X`` and ``return result``.
    """

    def edit(region: str) -> str:
        blocks = _top_level_blocks(region)
        if len(blocks) >= 2:
            blocks[0], blocks[1] = blocks[1], blocks[0]
        lines = []
        changed = False
        for line in "".join(blocks).splitlines():
            stripped = line.lstrip()
            indent = line[: len(line) - len(stripped)]
            if stripped.startswith(("def ", "async def ")):
                lines.append(f"{indent}# my own version, written after the lesson")
            if stripped.startswith("return ") and not changed:
                lines.append(f"{indent}# keep the answer in a variable first")
                lines.append(f"{indent}result = {stripped.removeprefix('return ')}")
                lines.append(f"{indent}return result")
                changed = True
                continue
            lines.append(line)
        return "\n".join(lines) + "\n"

    return _edit_regions(course_notebook("solutions", chapter), edit)


class _Renamer(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self.names.get(node.name, node.name)
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self.names.get(node.arg, node.arg)
        return self.generic_visit(node)  # its annotation may name a function

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        # Keyword arguments of the task's own functions follow their renamed
        # parameters; those of library calls cannot change.
        if isinstance(node.func, ast.Name) and node.func.id in self.names:
            for kw in node.keywords:
                if kw.arg is not None:
                    kw.arg = self.names.get(kw.arg, kw.arg)
        return self.generic_visit(node)


def _regions(nb: nbformat.NotebookNode) -> list[str]:
    """The text of each solution region of ``nb``."""
    return [
        c.source.split(CODE_BEGIN + "\n", 1)[1].split(CODE_END, 1)[0]
        for c in nb.cells
        if c.cell_type == "code" and CODE_BEGIN in c.source
    ]


def _names_in(code: str) -> set[str]:
    """The names code uses or binds (not the words in its strings)."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
    return names


def _identifiers(code: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", code))


def renamed_copy(chapter: str) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The solution with every name its task code binds renamed throughout.

    Functions, their parameters and local variables get new names (model
    fields and the names the exercise gives stay: the task fixes them).
    Returns the notebook and the renaming.
    """
    solution = course_notebook("solutions", chapter)
    given = set().union(
        *(
            _identifiers(c.source)
            for c in course_notebook("exercises", chapter).cells
            if c.cell_type == "code"
        )
    )
    bound: set[str] = set()
    for region in _regions(solution):
        for node in ast.walk(ast.parse(region)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                bound.add(node.name)
                bound.update(
                    a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)
                )
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                        bound.add(inner.id)
            elif isinstance(node, ast.comprehension | ast.Lambda):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                        bound.add(inner.id)
                    if isinstance(inner, ast.arg):
                        bound.add(inner.arg)
    keep = given | set(dir(builtins)) | set(keyword.kwlist) | {"self"}
    names = {name: f"my_{name[::-1].lower()}" for name in sorted(bound - keep)}

    def edit(region: str) -> str:
        return ast.unparse(_Renamer(names).visit(ast.parse(region))) + "\n"

    return _edit_regions(solution, edit), names


def submit(
    folder: Path, notebooks: dict[str, nbformat.NotebookNode]
) -> dict[str, Path]:
    """Write each notebook to ``folder``; the mapping ``find_similar`` takes."""
    folder.mkdir(exist_ok=True)
    paths = {}
    for name, nb in notebooks.items():
        path = folder / name
        nbformat.write(nb, path)
        paths[name] = path
    return paths


def pair_of(result: SimilarityResult, first: str, second: str) -> SimilarPair | None:
    found = [p for p in result.pairs if {p.first, p.second} == {first, second}]
    assert len(found) <= 1
    return found[0] if found else None


def honest(chapter: str) -> dict[str, nbformat.NotebookNode]:
    files = sorted(FIXTURES.glob(f"{chapter}_honest_*.py"))
    assert len(files) == 2
    return {f"{f.stem}.ipynb": answered(chapter, f) for f in files}


# -- copies are found -----------------------------------------------------------


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_near_copy_is_flagged_with_a_high_score(chapter: str, tmp_path: Path) -> None:
    paths = submit(
        tmp_path,
        {
            "alice.ipynb": course_notebook("solutions", chapter),
            "bob.ipynb": near_copy(chapter),
        },
    )
    result = find_similar(paths, chapter)
    pair = pair_of(result, "alice.ipynb", "bob.ipynb")
    assert pair is not None, result
    assert pair.kind == "pair"
    # Measured: 0.63 (chapter 04) to 0.83 (chapter 07); honest work <= 0.35.
    assert pair.score >= 0.6
    against = pair_of(result, "bob.ipynb", REFERENCE)
    assert against is not None and against.kind == "reference"
    assert against.score == pytest.approx(pair.score)
    assert result.compared == 2


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_renamed_copy_is_flagged(chapter: str, tmp_path: Path) -> None:
    nb, names = renamed_copy(chapter)
    paths = submit(
        tmp_path,
        {"alice.ipynb": course_notebook("solutions", chapter), "carol.ipynb": nb},
    )
    # The renaming is real: the copy's task code no longer uses those names.
    assert len(names) >= 5
    assert not set().union(*map(_names_in, _regions(nb))) & set(names)
    result = find_similar(paths, chapter)
    for other in ("alice.ipynb", REFERENCE):
        pair = pair_of(result, "carol.ipynb", other)
        assert pair is not None, result
        # Measured: 0.64 (chapter 03) to 0.94 (chapter 02).
        assert pair.score >= 0.6


def test_reference_submitted_unchanged_is_flagged_as_reference(tmp_path: Path) -> None:
    paths = submit(tmp_path, {"dave.ipynb": course_notebook("solutions", "02")})
    result = find_similar(paths, "02")
    assert result.pairs == [SimilarPair("dave.ipynb", REFERENCE, 1.0, "reference")]


def test_docstrings_removed_do_not_hide_a_copy(tmp_path: Path) -> None:
    solution = course_notebook("solutions", "03")
    stripped = _edit_regions(
        course_notebook("solutions", "03"),
        lambda region: re.sub(r'(?m)^[ \t]*""".*?"""\n', "", region, flags=re.S),
    )
    assert '"""' not in "".join(_regions(stripped))
    paths = submit(tmp_path, {"a.ipynb": solution, "b.ipynb": stripped})
    result = find_similar(paths, "03")
    assert [(p.first, p.second, p.score) for p in result.pairs] == [
        ("a.ipynb", "b.ipynb", 1.0),
        ("a.ipynb", REFERENCE, 1.0),
        ("b.ipynb", REFERENCE, 1.0),
    ]


# -- honest work and given code are not -----------------------------------------


@pytest.mark.parametrize("chapter", ["02", "03"])
def test_independent_honest_solutions_are_not_flagged(
    chapter: str, tmp_path: Path
) -> None:
    paths = submit(tmp_path, honest(chapter))
    result = find_similar(paths, chapter)
    # Neither against each other (measured 0.02, 0.04) nor against the
    # reference (at most 0.16 in chapter 02; 0.35 in chapter 03, whose tasks
    # the text nearly dictates).
    assert result.pairs == []
    assert result.compared == 2
    assert result.notes == []


def test_exercise_as_released_by_several_learners_gives_no_pair(
    tmp_path: Path,
) -> None:
    exercise = course_notebook("exercises", "02")
    emptied = course_notebook("exercises", "02")
    for cell in emptied.cells:
        if cell.cell_type == "code":
            cell.source = _PLACEHOLDER.sub("pass", cell.source)
    paths = submit(
        tmp_path,
        {
            "erin.ipynb": exercise,
            "frank.ipynb": exercise,
            "grace.ipynb": exercise,
            "heidi.ipynb": emptied,
            "ivan.ipynb": emptied,
        },
    )
    result = find_similar(paths, "02")
    assert result.pairs == []
    assert result.compared == 0
    assert result.notes == [
        "5 had too little code of their own to compare: erin.ipynb, "
        "frank.ipynb, grace.ipynb, heidi.ipynb, ivan.ipynb"
    ]


def test_given_code_does_not_count_for_a_copy(tmp_path: Path) -> None:
    # One honest learner among untouched exercises: the set-up and the cells
    # they all share are nobody's task code, so nothing is flagged.
    paths = submit(
        tmp_path,
        {
            **honest("02"),
            "erin.ipynb": course_notebook("exercises", "02"),
        },
    )
    result = find_similar(paths, "02")
    assert result.pairs == []
    assert result.compared == 2


# -- what cannot be compared ------------------------------------------------------


def test_corrupt_notebook_is_skipped_with_a_note(tmp_path: Path) -> None:
    paths = submit(
        tmp_path,
        {
            "alice.ipynb": course_notebook("solutions", "02"),
            "bob.ipynb": near_copy("02"),
        },
    )
    broken = tmp_path / "mallory.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    binary = tmp_path / "trent.ipynb"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    paths |= {"mallory.ipynb": broken, "trent.ipynb": binary}
    paths["gone.ipynb"] = tmp_path / "gone.ipynb"
    result = find_similar(paths, "02")
    assert pair_of(result, "alice.ipynb", "bob.ipynb") is not None
    assert result.compared == 2
    assert result.notes == [
        "3 could not be read as notebooks and were not compared: "
        "gone.ipynb, mallory.ipynb, trent.ipynb"
    ]


def test_without_the_course_files_given_code_is_what_most_share(
    tmp_path: Path,
) -> None:
    exercise = course_notebook("exercises", "02")
    paths = submit(
        tmp_path / "submissions",
        {
            **{f"learner{i}.ipynb": exercise for i in range(4)},
            "alice.ipynb": course_notebook("solutions", "02"),
            "bob.ipynb": near_copy("02"),
        },
    )
    course = tmp_path / "elsewhere"
    course.mkdir()
    result = find_similar(paths, "02", course=course)
    assert [(p.first, p.second, p.kind) for p in result.pairs] == [
        ("alice.ipynb", "bob.ipynb", "pair")
    ]
    assert any("exercise" in note and "not found" in note for note in result.notes)
    assert any(
        "reference solution" in note and "not compared with it" in note
        for note in result.notes
    )


# -- similarity.csv ---------------------------------------------------------------


def test_write_csv_keeps_hostile_names_in_safe_cells(tmp_path: Path) -> None:
    names = ['=HYPERLINK("x")', 'a,b "c"\nStatus: graded.ipynb', "+1.ipynb"]
    result = SimilarityResult(
        pairs=[
            SimilarPair(names[0], names[1], 0.9234, "pair"),
            SimilarPair(names[2], REFERENCE, 1.0, "reference"),
        ],
        compared=3,
    )
    path = tmp_path / "out" / "similarity.csv"
    write_csv(result, path)
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == 3  # the header and two rows, nothing more
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["first", "second", "kind", "similarity"],
        ['\'=HYPERLINK("x")', 'a,b "c"\\nStatus: graded.ipynb', "pair", "92.3"],
        ["'+1.ipynb", REFERENCE, "reference", "100.0"],
    ]
    assert not list(path.parent.glob(".similarity.csv.*"))  # no temporary left


def test_write_csv_without_pairs_is_the_header(tmp_path: Path) -> None:
    path = tmp_path / "similarity.csv"
    path.write_text("old\n", encoding="utf-8")
    write_csv(SimilarityResult(), path)
    assert path.read_text(encoding="utf-8") == "first,second,kind,similarity\n"


def test_huge_task_code_is_cut_with_a_note(tmp_path: Path) -> None:
    nb = course_notebook("solutions", "02")
    # A quarter of a million characters of distinct code before the tasks.
    filler = "\n".join(f"v{i} = {i} * w{i} + {i % 7}" for i in range(13_000))
    nb.cells.insert(0, nbformat.v4.new_code_cell(filler))
    paths = submit(tmp_path, {"big.ipynb": nb})
    result = find_similar(paths, "02")
    assert result.compared == 1
    assert result.notes == [
        "1 had more than 200,000 characters of task code; the first 200,000 "
        "were compared: big.ipynb"
    ]
    # What comes after the first 200,000 characters (here, the whole
    # solution) is not looked at: a hostile notebook cannot slow the run.
    assert result.pairs == []
