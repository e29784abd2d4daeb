"""Near-copies among submissions, for the instructor to look at.

A grading run compares the *task code* of every submission with every
other's, and with the reference solution, and lists the pairs that are
nearly the same (``similarity.csv`` and a section of the class report). It
is a pointer for a human, never a grade: short tasks leave little room for
variety, and learners may have worked together as allowed.

The comparison is MOSS's: fingerprints of k-grams of the code once
tokenised (``copydetect``). Its tokeniser (pygments) drops comments and
whitespace and writes every variable, attribute and argument name as ``V``,
every function name as ``F``, every class name as ``O`` and every string as
``S``; docstrings are dropped before it. So renaming things, rewording
messages, re-spacing, or adding or deleting comments and docstrings does not
hide a copy.

A submission's task code is what the learner wrote: its code cells without
the lines the released exercise (``exercises/NN_*.ipynb``) already has. The
exercise's code, and that of the lessons up to the chapter
(``notebooks/NN*.ipynb``), are copydetect's boilerplate: a k-gram found
there counts for nobody, since following the course's own examples is not
copying. The reference's task code is what ``coursekit build`` cuts out of
the solution (its ``### BEGIN SOLUTION`` regions), minus the same. Two
exercises submitted untouched are identical but hold no task code: a
submission with too little code of its own is left out, and a note says
which.

The thresholds come from the course's own notebooks (chapters 02 to 07, see
``tests/coursekit/grading/test_similarity.py``): against the reference,
copies with lines changed, definitions reordered and comments added scored
0.63 to 0.83, copies with every name renamed 0.64 to 0.94, copies without
docstrings 1.0; honest solutions written independently 0.00 to 0.35 (the
highest in chapter 03, whose tasks leave little choice), two of them
against each other 0.02 to 0.04, and the solutions of different chapters
against each other at most 0.08.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import nbformat

from coursekit.build import CODE_BEGIN, CODE_END
from coursekit.contracts.registry import normalize_chapter
from coursekit.grading.submission import load
from coursekit.grading.untrusted import csv_cell, one_line
from coursekit.grading.variants import NAMES, ROOT

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "CSV_COLUMNS",
    "GUARANTEE",
    "MIN_FINGERPRINTS",
    "NOISE",
    "REFERENCE",
    "THRESHOLD",
    "SimilarPair",
    "SimilarityResult",
    "find_similar",
    "given_lines",
    "lessons",
    "reference_code",
    "task_code",
    "write_csv",
]

#: The name a pair uses for the course's own solution.
REFERENCE = "reference solution"
#: The columns of ``similarity.csv``.
CSV_COLUMNS = ("first", "second", "kind", "similarity")

#: A pair is listed from this score on (see ``SimilarPair.score``): midway
#: between the honest work (at most 0.35) and the copies (0.63 and more)
#: measured on the course's notebooks.
THRESHOLD = 0.5
#: copydetect's noise threshold: the k of the k-grams, in characters of the
#: tokenised code (``defF(V:O)->O:`` is 13); shorter matches are ignored.
#: copydetect's default. Measured, the lowest copy against the highest
#: honest score: k = 15: 0.72 / 0.44; 20: 0.68 / 0.39; 25: 0.63 / 0.35;
#: 30: 0.57 / 0.33. 20 and 25 separate them about equally; 25 keeps honest
#: pairs of learners further apart (0.04 against 0.11).
NOISE = 25
#: copydetect's guarantee threshold: a match this long is always found. Equal
#: to ``NOISE``, the window is 1 and every k-gram is a fingerprint, which
#: makes the scores exact and the same on every run (with a larger window,
#: which k-grams are kept depends on Python's per-process string hashes).
GUARANTEE = 25
#: A submission with fewer fingerprints of its own than this is not
#: compared, and a pair must share at least this many: about one short
#: endpoint (chapter 03's first task, four lines, is 42). Chapter 03's
#: copies share 79 to 88 with the reference, honest work 16 to 43.
MIN_FINGERPRINTS = 50
#: Characters of task code fingerprinted per submission: a hostile notebook
#: cannot make the comparison slow (the course's solutions have ~10,000).
MAX_CODE = 200_000
#: Without the exercise, a fingerprint found in this share of the
#: submissions (and in at least ``_COMMON_MIN`` of them) counts as given, as
#: MOSS's ``-m`` does.
_COMMON_SHARE = 0.5
_COMMON_MIN = 3
#: Names listed in one note at most.
_NAMES_IN_NOTE = 20


@dataclass(frozen=True)
class SimilarPair:
    """Two submissions (or one and the reference) whose task code is near-identical."""

    first: str
    second: str
    #: 0..1: the share of the smaller side's task-code fingerprints found in
    #: the other (1: one contains the other).
    score: float
    #: "pair": two learners; "reference": a learner and ``REFERENCE``.
    kind: Literal["pair", "reference"]


@dataclass
class SimilarityResult:
    """What ``find_similar`` found, and what it could not compare."""

    #: At or above the threshold, highest score first, then by names.
    pairs: list[SimilarPair] = field(default_factory=list)
    #: For the instructor: what was skipped and why (one line each).
    notes: list[str] = field(default_factory=list)
    #: How many submissions had enough code of their own to be compared.
    compared: int = 0


# -- task code ----------------------------------------------------------------


def _code_cells(nb: nbformat.NotebookNode) -> list[str]:
    return [
        str(cell.get("source", ""))
        for cell in nb.get("cells", [])
        if cell.get("cell_type") == "code"
    ]


def _python_lines(source: str) -> Iterable[str]:
    # IPython's own syntax (%%module path, %time, !pip) is not Python: the
    # tokeniser would read it as operators and names.
    for line in source.splitlines():
        if not line.lstrip().startswith(("%", "!")):
            yield line


def given_lines(exercise: nbformat.NotebookNode) -> frozenset[str]:
    """The code lines of the released exercise, stripped (blank ones left out)."""
    return frozenset(
        stripped
        for source in _code_cells(exercise)
        for line in _python_lines(source)
        if (stripped := line.strip())
    )


def task_code(nb: nbformat.NotebookNode, given: frozenset[str]) -> str:
    """The code of ``nb``'s code cells without the lines in ``given``."""
    return "\n".join(
        line
        for source in _code_cells(nb)
        for line in _python_lines(source)
        if line.strip() and line.strip() not in given
    )


def reference_code(solution: nbformat.NotebookNode, given: frozenset[str]) -> str:
    """The solution's code inside its solution regions, less ``given`` lines."""
    lines: list[str] = []
    for source in _code_cells(solution):
        inside = False
        for line in _python_lines(source):
            if CODE_BEGIN in line:
                inside = True
            elif CODE_END in line:
                inside = False
            elif inside and line.strip() and line.strip() not in given:
                lines.append(line)
    return "\n".join(lines)


# -- fingerprints -------------------------------------------------------------


#: A triple-quoted string that starts a line: a docstring, as pygments tells
#: them. Documentation, like a comment: deleting or rewording it must not
#: hide a copy (copydetect keeps a string as a token).
_DOCSTRING = re.compile(r"^[ \t]*[rRuUbB]{0,2}(\"{3}|'{3}).*?\1", re.M | re.S)


def _fingerprints(
    code: str, boilerplate: NDArray[np.int64] | None, window: int
) -> frozenset[int]:
    # Imported here: copydetect imports matplotlib.pyplot (for its own HTML
    # report), a second's start-up that only the comparison should pay.
    from copydetect import CodeFingerprint  # type: ignore[import-untyped]

    fingerprint = CodeFingerprint(
        "task.py",  # only names the code; `language` picks the lexer
        k=NOISE,
        win_size=window,
        boilerplate=boilerplate,
        language="python",
        fp=io.StringIO(_DOCSTRING.sub("", code)),
    )
    return frozenset(int(h) for h in fingerprint.hashes)


def _boilerplate(code: str) -> NDArray[np.int64]:
    """Every k-gram of ``code``, as copydetect's own boilerplate files are read."""
    import numpy as np

    return np.array(sorted(_fingerprints(code, None, window=1)), dtype=np.int64)


def _score(a: frozenset[int], b: frozenset[int]) -> tuple[float, int]:
    """The share of the smaller side found in the other, and how many that is."""
    shared = len(a & b)
    return shared / max(1, min(len(a), len(b))), shared


def _listed(names: Iterable[str]) -> str:
    names = sorted(names)
    shown = ", ".join(one_line(name, 80) for name in names[:_NAMES_IN_NOTE])
    more = len(names) - _NAMES_IN_NOTE
    return shown + (f" and {more} more" if more > 0 else "")


def _course_notebook(path: Path) -> nbformat.NotebookNode | None:
    loaded = load(path)
    return loaded if isinstance(loaded, nbformat.NotebookNode) else None


def lessons(root: Path, chapter: str) -> list[nbformat.NotebookNode]:
    """The lessons of the chapters up to ``chapter`` (``notebooks/NN*.ipynb``)."""
    found = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]*.ipynb")):
        if path.name[:2] <= chapter and (nb := _course_notebook(path)) is not None:
            found.append(nb)
    return found


@dataclass
class _Given:
    """What the course gives every learner of a chapter, and the reference."""

    lines: frozenset[str]
    boilerplate: NDArray[np.int64] | None
    reference: frozenset[int] | None
    #: False: the exercise was not found, given code must be guessed.
    exercise_found: bool
    notes: list[str]


def _given(root: Path, chapter: str, window: int) -> _Given:
    name = NAMES.get(chapter, f"{chapter}_*.ipynb")
    exercise = _course_notebook(root / "exercises" / name)
    solution = _course_notebook(root / "solutions" / name)
    notes: list[str] = []
    shown = lessons(root, chapter)
    if not shown:
        notes.append(
            f"no lessons found in {root / 'notebooks'}: code they show counted "
            "as the learners' own"
        )
    lines: frozenset[str] = frozenset()
    if exercise is not None:
        lines = given_lines(exercise)
        shown.append(exercise)
    else:
        notes.append(
            f"the released exercise {root / 'exercises' / name} was not found: "
            f"code found in half of the submissions (and at least {_COMMON_MIN}) "
            "counted as given instead"
        )
    # The lessons too: following the course's own examples is not copying.
    code = "\n".join(cell for nb in shown for cell in _code_cells(nb))
    boilerplate = _boilerplate(code) if shown else None
    reference = None
    if solution is not None:
        own = reference_code(solution, lines)
        reference = _fingerprints(own, boilerplate, window)
    else:
        notes.append(
            f"the reference solution {root / 'solutions' / name} was not found: "
            "submissions were not compared with it"
        )
    return _Given(lines, boilerplate, reference, exercise is not None, notes)


def find_similar(
    submissions: Mapping[str, Path],
    chapter: str,
    *,
    threshold: float = THRESHOLD,
    course: Path | None = None,
) -> SimilarityResult:
    """The near-copies among ``submissions``, and against the reference solution.

    A pair is listed when at least ``threshold`` of the smaller side's task
    code fingerprints are in the other, and they are ``MIN_FINGERPRINTS``
    or more. Never raises for a submission: one that cannot be read as a
    notebook is skipped, and a note says so.

    Args:
        submissions: submission name -> notebook file.
        chapter: the chapter graded (``"02"``, ``2``...).
        threshold: the lowest score listed (0..1, see ``SimilarPair.score``).
        course: the folder holding ``exercises/``, ``solutions/`` and
            ``notebooks/`` (default: this checkout of the course). Without
            the exercise, code found in half of the submissions counts as
            given; without the solution, nothing is compared with the
            reference. Notes say so.

    Each notebook is fingerprinted once; a pair then costs one intersection
    of two sets.
    """
    chapter = normalize_chapter(chapter)
    window = GUARANTEE - NOISE + 1
    given = _given(ROOT if course is None else course, chapter, window)
    result = SimilarityResult(notes=list(given.notes))
    unreadable: list[str] = []
    cut: list[str] = []
    prints: dict[str, frozenset[int]] = {}
    for key, path in submissions.items():
        nb = load(path)
        if isinstance(nb, str):
            unreadable.append(key)
            continue
        code = task_code(nb, given.lines)
        if len(code) > MAX_CODE:
            cut.append(key)
            code = code[:MAX_CODE]
        prints[key] = _fingerprints(code, given.boilerplate, window)

    if not given.exercise_found:
        if len(prints) < _COMMON_MIN:
            result.notes.append(
                f"fewer than {_COMMON_MIN} submissions: without the exercise, "
                "what it gives cannot be told apart; they were not compared"
            )
            prints = {}
        counts = Counter(h for hashes in prints.values() for h in hashes)
        least = max(_COMMON_MIN, _COMMON_SHARE * len(prints))
        common = {h for h, n in counts.items() if n >= least}
        prints = {key: hashes - common for key, hashes in prints.items()}

    small = [key for key, hashes in prints.items() if len(hashes) < MIN_FINGERPRINTS]
    for key in small:
        del prints[key]
    result.compared = len(prints)

    def listed(a: frozenset[int], b: frozenset[int]) -> float | None:
        score, shared = _score(a, b)
        return score if score >= threshold and shared >= MIN_FINGERPRINTS else None

    pairs: list[SimilarPair] = []
    for (a, ha), (b, hb) in itertools.combinations(sorted(prints.items()), 2):
        if (score := listed(ha, hb)) is not None:
            pairs.append(SimilarPair(a, b, score, "pair"))
    if given.reference is not None:
        for key, hashes in sorted(prints.items()):
            if (score := listed(hashes, given.reference)) is not None:
                pairs.append(SimilarPair(key, REFERENCE, score, "reference"))
    result.pairs = sorted(pairs, key=lambda p: (-p.score, p.first, p.second))

    if unreadable:
        result.notes.append(
            f"{len(unreadable)} could not be read as notebooks and were not "
            f"compared: {_listed(unreadable)}"
        )
    if small:
        result.notes.append(
            f"{len(small)} had too little code of their own to compare: "
            f"{_listed(small)}"
        )
    if cut:
        result.notes.append(
            f"{len(cut)} had more than {MAX_CODE:,} characters of task code; "
            f"the first {MAX_CODE:,} were compared: {_listed(cut)}"
        )
    return result


def write_csv(result: SimilarityResult, path: Path) -> None:
    """Write ``result.pairs`` to ``path``: ``first,second,kind,similarity``.

    The similarity is a percentage with one decimal; with no pairs the file
    holds the header only. Names are the submissions' own text, made safe for
    a spreadsheet (``untrusted.csv_cell``). The file is replaced atomically.
    """
    # Imported here: report.py may come to import the class report, which
    # imports this module.
    from coursekit.grading.report import _write_atomic

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for pair in result.pairs:
        writer.writerow(
            [
                csv_cell(pair.first),
                csv_cell(pair.second),
                pair.kind,
                f"{pair.score * 100:.1f}",
            ]
        )
    _write_atomic(path, buffer.getvalue())
