"""``coursekit build``: the exercise notebooks, generated from the solved ones.

An exercise is written once, solved, in ``solutions/NN_topic.ipynb``. This
command writes ``exercises/NN_topic.ipynb`` from it:

- in code cells, each region from a line containing ``### BEGIN SOLUTION``
  to the line containing ``### END SOLUTION`` (nbgrader's markers) becomes
  ``# YOUR CODE HERE`` and a ``raise NotImplementedError(...)`` naming the
  task, at the indentation of the BEGIN line;
- in markdown cells, each region from ``<!-- BEGIN SOLUTION -->`` to
  ``<!-- END SOLUTION -->`` is removed;
- outputs and execution counts are cleared, cell ids kept, and metadata that
  differs between machines (Python's version, editor state, timings) dropped;
- an exercise that this command generated and whose solution is gone is
  deleted (files it did not generate are never touched).

The output depends on nothing but the solution's content, byte for byte, so
``coursekit build --check`` can tell a stale exercise by comparing bytes.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat.validator import ValidationError

from coursekit.errors import CourseError

__all__ = [
    "BuildError",
    "Plan",
    "build_notebook",
    "exercise_source",
    "main",
    "plan",
    "strip_markdown",
]

CODE_BEGIN = "### BEGIN SOLUTION"
CODE_END = "### END SOLUTION"
MARKDOWN_BEGIN = "<!-- BEGIN SOLUTION -->"
MARKDOWN_END = "<!-- END SOLUTION -->"
#: Notebook metadata key that marks an exercise as generated, so that the
#: build deletes only its own files when their solution goes away.
MARK = "coursekit"
#: What the learner is told where a solution was; ``{task}`` is the task's id.
MESSAGE = (
    "Task {task}: write this part; the task's description above says what it must do."
)
#: ruff's line length (pyproject.toml): exercises/ are linted and formatted too.
LINE_LENGTH = 88
#: Notebook metadata that describes one machine or one editor session.
VOLATILE_METADATA = ("vscode", "widgets", "colab", "papermill", "toc", "execution")
#: Cell metadata written by timing extensions (JupyterLab's record_timing,
#: nbextensions' ExecuteTime): times of one run on one machine.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime")
#: ``## Task k · task_id (P points)``; the separator and backticks are
#: forgiven, since a heading typed by hand varies there.
_TASK_HEADING = re.compile(
    r"^##\s+Task\s+[\w.]+\s*[·:\-\u2013\u2014]\s*`?([A-Za-z_]\w*)`?"
)
#: An ATX heading of level 1 or 2: where a task's description starts or ends.
_TOP_HEADING = re.compile(r"^ {0,3}#{1,2}(?:\s|$)")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


class BuildError(CourseError):
    """A solution notebook cannot be turned into an exercise; says where."""


@dataclass(frozen=True)
class Plan:
    """What building would change in the exercises folder.

    Attributes:
        write: exercise path -> the bytes it must hold (missing or stale).
        missing: exercises that do not exist yet.
        stale: exercises whose bytes differ from what the build makes.
        extra: generated exercises whose solution no longer exists.
    """

    write: dict[Path, bytes]
    missing: list[Path]
    stale: list[Path]
    extra: list[Path]

    @property
    def up_to_date(self) -> bool:
        """True when building would change nothing."""
        return not (self.write or self.extra)


def _where(path: Path, index: int, cell: dict[str, Any]) -> str:
    cell_id = cell.get("id")
    return f"{path}: cell {index + 1}" + (f" (id {cell_id})" if cell_id else "")


def _regions(
    lines: list[str], begin: str, end: str, where: str
) -> list[tuple[int, int]]:
    """The (begin, end) line indexes of each marked region; strict about pairs."""
    regions: list[tuple[int, int]] = []
    opened: int | None = None
    for number, line in enumerate(lines):
        if begin in line:
            if opened is not None:
                raise BuildError(
                    f"{where}: line {number + 1} has {begin} inside the region "
                    f"opened on line {opened + 1}; regions cannot nest, "
                    f"close the first with {end}"
                )
            opened = number
        elif end in line:
            if opened is None:
                raise BuildError(
                    f"{where}: line {number + 1} has {end} without a {begin} "
                    "before it in the same cell"
                )
            regions.append((opened, number))
            opened = None
    if opened is not None:
        raise BuildError(
            f"{where}: the {begin} on line {opened + 1} has no {end} after it "
            "in the same cell"
        )
    return regions


def _placeholder(indent: str, task: str) -> str:
    """The lines that stand where a solution was, shaped as ruff formats them.

    The message never fits on the ``raise`` line, so it goes on a line of its
    own; where even that is too long it is split in two implicitly joined
    strings. ruff format joins such pieces whenever they fit on one line, so
    the choice here follows the same rule: otherwise `make format` would
    rewrite the exercises and make them stale.
    """
    message = MESSAGE.format(task=task)
    inner = indent + "    "
    whole = f"{inner}{json.dumps(message, ensure_ascii=False)}"
    if len(whole) <= LINE_LENGTH:
        body = whole + "\n"
    else:
        first, second = message.split("; ", 1)
        body = (
            f"{inner}{json.dumps(first + '; ', ensure_ascii=False)}\n"
            f"{inner}{json.dumps(second, ensure_ascii=False)}\n"
        )
    return (
        f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError(\n{body}{indent})"
    )


def exercise_source(source: str, task: str | None, where: str = "cell") -> str:
    """A code cell's source with each solution region replaced by a placeholder.

    Args:
        source: the solved cell's code.
        task: the task's id for the placeholder's message; None says
            "this task".
        where: names the cell in error messages.

    Raises:
        BuildError: a BEGIN without END, an END without BEGIN, or nested
            regions.
    """
    lines = source.splitlines(keepends=True)
    regions = _regions(lines, CODE_BEGIN, CODE_END, where)
    if not regions:
        return source
    name = task if task is not None else "this task"
    out: list[str] = []
    done = 0
    for first, last in regions:
        out.extend(lines[done:first])
        begin_line = lines[first]
        indent = begin_line[: len(begin_line) - len(begin_line.lstrip())]
        placeholder = _placeholder(indent, name)
        # Keep the END line's line break (or its absence at the cell's end),
        # so the lines after the region stay as they were.
        ending = lines[last][len(lines[last].rstrip("\r\n")) :]
        out.append(placeholder + ending)
        done = last + 1
    out.extend(lines[done:])
    return "".join(out)


def strip_markdown(source: str, where: str = "cell") -> str:
    """A markdown cell's source without its solution regions.

    A marker alone on its line takes the whole line with it; a region inside
    a line (``the answer is <!-- BEGIN SOLUTION -->42<!-- END SOLUTION -->``)
    is cut out of that line.

    Raises:
        BuildError: a BEGIN without END, an END without BEGIN, or nested
            regions.
    """
    # Checked line by line first, so that errors name the line.
    lines = source.splitlines(keepends=True)
    _check_markdown_pairs(lines, where)
    pattern = re.compile(
        rf"(?m)(^[ \t]*)?{re.escape(MARKDOWN_BEGIN)}.*?{re.escape(MARKDOWN_END)}"
        r"(?(1)[ \t]*(?:\r?\n|\Z)|)",
        re.DOTALL,
    )
    return pattern.sub("", source)


def _check_markdown_pairs(lines: list[str], where: str) -> None:
    """Markdown markers may share a line; check their pairing in text order."""
    opened: int | None = None
    token = re.compile(f"{re.escape(MARKDOWN_BEGIN)}|{re.escape(MARKDOWN_END)}")
    for number, line in enumerate(lines):
        for match in token.finditer(line):
            if match.group() == MARKDOWN_BEGIN:
                if opened is not None:
                    raise BuildError(
                        f"{where}: line {number + 1} has {MARKDOWN_BEGIN} inside "
                        f"the region opened on line {opened + 1}; regions cannot "
                        f"nest, close the first with {MARKDOWN_END}"
                    )
                opened = number
            else:
                if opened is None:
                    raise BuildError(
                        f"{where}: line {number + 1} has {MARKDOWN_END} without a "
                        f"{MARKDOWN_BEGIN} before it in the same cell"
                    )
                opened = None
    if opened is not None:
        raise BuildError(
            f"{where}: the {MARKDOWN_BEGIN} on line {opened + 1} has no "
            f"{MARKDOWN_END} after it in the same cell"
        )


def _last_top_heading(markdown: str) -> str | None:
    """The last level-1 or level-2 heading of a markdown text, outside code."""
    heading: str | None = None
    fence: str | None = None
    for line in markdown.splitlines():
        match = _FENCE.match(line)
        if match:
            # A `# comment` inside a fenced code example is not a heading.
            if fence is None:
                fence = match.group(1)
            elif match.group(1) == fence:
                fence = None
            continue
        if fence is None and _TOP_HEADING.match(line):
            heading = line.strip()
    return heading


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _split_lines(text: str) -> list[str]:
    """Source as Jupyter saves it: a list of lines, each keeping its newline."""
    return text.splitlines(keepends=True)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: cannot be read ({exc})") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildError(f"{path}: not a notebook (not JSON: {exc})") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4:
        raise BuildError(
            f"{path}: not a notebook in nbformat 4 (save it from JupyterLab)"
        )
    with warnings.catch_warnings():
        # nbformat warns (and may patch a copy) about old-style notebooks; the
        # verdict that matters is whether the schema holds.
        warnings.simplefilter("ignore")
        try:
            nbformat.validate(copy.deepcopy(nb))
        except ValidationError as exc:
            message = str(exc.message).splitlines()[0]
            raise BuildError(f"{path}: not a valid notebook ({message})") from None
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            # nbformat trips over some shapes (cells that are not a list)
            # before its schema check can say so.
            message = f"{type(exc).__name__}: {exc}"
            raise BuildError(f"{path}: not a valid notebook ({message})") from None
    return nb


def build_notebook(nb: dict[str, Any], path: Path) -> dict[str, Any]:
    """The exercise made from the solved notebook ``nb`` (read from ``path``).

    ``path`` only names the file in error messages and in the exercise's
    ``coursekit`` metadata (by its file name, which is the same on every
    machine).

    Raises:
        BuildError: a solution region's markers are not in pairs.
    """
    out = copy.deepcopy(nb)
    metadata: dict[str, Any] = out.setdefault("metadata", {})
    for key in VOLATILE_METADATA:
        metadata.pop(key, None)
    language_info = metadata.get("language_info")
    if isinstance(language_info, dict):
        # The same key that `coursekit run` drops: Python's exact version.
        language_info.pop("version", None)
    metadata[MARK] = {
        "exercise_of": path.name,
        "note": "generated by `coursekit build`: edit the solution, then build",
    }
    task: str | None = None
    for index, cell in enumerate(out.get("cells", [])):
        where = _where(path, index, cell)
        for key in VOLATILE_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
        kind = cell.get("cell_type")
        if kind == "markdown":
            text = strip_markdown(_source(cell), where)
            cell["source"] = _split_lines(text)
            heading = _last_top_heading(text)
            if heading is not None:
                # A new top section ends the previous task's description.
                match = _TASK_HEADING.match(heading)
                task = match.group(1) if match else None
        elif kind == "code":
            cell["source"] = _split_lines(exercise_source(_source(cell), task, where))
            cell["outputs"] = []
            cell["execution_count"] = None
    return out


def _dumps(nb: dict[str, Any]) -> bytes:
    """The bytes Jupyter and nbformat write for a v4 notebook."""
    return (json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode(
        "utf-8"
    )


def _generated(path: Path) -> bool:
    """True when ``path`` is an exercise that this command wrote."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(nb, dict) and MARK in (nb.get("metadata") or {})


def _notebooks(folder: Path) -> list[Path]:
    # Sorted, and no hidden files: the same list on every machine.
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def plan(solutions: Path, exercises: Path) -> Plan:
    """Compare what the build would write with what ``exercises`` holds.

    Reads only; every solution is converted before anything is decided, so
    one broken solution stops the whole build before a file changes.

    Raises:
        BuildError: the solutions folder does not exist, or a solution is not
            a notebook or has unpaired markers.
    """
    if not solutions.is_dir():
        raise BuildError(
            f"{solutions}: no such folder; the solved notebooks go there "
            "(coursekit build [SOLUTIONS_DIR] [EXERCISES_DIR])"
        )
    wanted: dict[Path, bytes] = {}
    for source in _notebooks(solutions):
        wanted[exercises / source.name] = _dumps(build_notebook(_read(source), source))
    write: dict[Path, bytes] = {}
    missing: list[Path] = []
    stale: list[Path] = []
    for target, content in wanted.items():
        if not target.exists():
            missing.append(target)
            write[target] = content
        elif target.read_bytes() != content:
            stale.append(target)
            write[target] = content
    extra = [
        p
        for p in (_notebooks(exercises) if exercises.is_dir() else [])
        if p not in wanted and _generated(p)
    ]
    return Plan(write=write, missing=missing, stale=stale, extra=extra)


def _write_atomically(path: Path, content: bytes) -> None:
    # A reader (JupyterLab, a test run) never sees half a notebook.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coursekit build",
        description=(
            "Generate the exercise notebooks from the solved ones: solution "
            "regions become placeholders, outputs are cleared."
        ),
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if an exercise is missing, stale or extra",
    )
    parser.add_argument(
        "solutions",
        nargs="?",
        type=Path,
        default=Path("solutions"),
        help="folder of solved notebooks (default: solutions)",
    )
    parser.add_argument(
        "exercises",
        nargs="?",
        type=Path,
        default=Path("exercises"),
        help="folder the exercises are written to (default: exercises)",
    )
    return parser


def _folders(args: argparse.Namespace) -> list[str]:
    """The folder arguments to repeat in the fix, none when both are defaults."""
    if args.exercises != Path("exercises"):
        return [str(args.solutions), str(args.exercises)]
    return [] if args.solutions == Path("solutions") else [str(args.solutions)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``coursekit build``; returns the exit status.

    0: done, or (with ``--check``) everything up to date; 1: ``--check``
    found exercises to rebuild; 2: a solution or the arguments are wrong
    (one line on stderr names the file and cell).
    """
    args = _parser().parse_args(argv)
    try:
        result = plan(args.solutions, args.exercises)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if result.up_to_date:
            print(f"{args.exercises}: all exercises up to date")
            return 0
        for path in result.missing:
            print(f"missing: {path}")
        for path in result.stale:
            print(f"stale:   {path}")
        for path in result.extra:
            print(f"extra:   {path} (its solution is gone)")
        command = " ".join(["coursekit build", *_folders(args)])
        print(f"fix: run `{command}` and commit the exercises it writes")
        return 1
    for path, content in result.write.items():
        _write_atomically(path, content)
        print(f"wrote   {path}")
    for path in result.extra:
        path.unlink()
        print(f"deleted {path} (its solution is gone)")
    if result.up_to_date:
        print(f"{args.exercises}: all exercises up to date")
    return 0
