"""``coursekit gradescope NN``: the course as a Gradescope autograder (a zip).

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh``
there once to build the image, then for each submission runs
``/autograder/run_autograder`` (a copy of ours) with the learner's files in
``/autograder/submission/``, and reads ``/autograder/results/results.json``.

The zip holds:

- ``setup.sh``: finds (or, as root with apt-get, installs) Python 3.11+,
  bubblewrap, and Redis where the chapter needs it, makes a virtual
  environment in ``/autograder/venv`` and installs the course into it;
- ``run_autograder``: grades the one notebook in ``submission/`` with
  ``coursekit grade`` (``python -m coursekit.grading.autograder``) and puts
  its Gradescope results where Gradescope reads them;
- ``course/``: the course's source (``coursekit``, ``course_app``,
  ``pyproject.toml``), from the checkout that built the zip;
- ``hidden/``: the instructor's hidden checks, when ``--hidden`` is given.

``AUTOGRADER_ROOT`` replaces ``/autograder`` (the tests lay out a folder
the way Gradescope does), and ``COURSEKIT_PYTHON`` names the Python to run
with instead of ``/autograder/venv/bin/python``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from coursekit.contracts.registry import (
    CHAPTERS,
    EXERCISE_BASES,
    UnknownChapter,
    checks_for,
    normalize_chapter,
)

__all__ = ["build_autograder", "grade_submission", "main", "run_main"]

USAGE_ERROR = 2
#: What of the checkout the autograder installs (``pip install -e course/``).
COURSE_FILES = ("pyproject.toml", "README.md", "LICENSE")
COURSE_PACKAGES = ("coursekit", "course_app")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
#: Folders in an upload that are not the learner's work.
_NOT_SUBMITTED = {"__MACOSX", ".ipynb_checkpoints"}

#: setup.sh and run_autograder, with ``@NAME@`` placeholders filled in.
TEMPLATES = Path(__file__).with_name("gradescope_files")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"error: {message} (see --help)\n")


def _course_root() -> Path:
    """The checkout holding the installed ``coursekit`` (an editable install)."""
    import coursekit

    root = Path(coursekit.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / "course_app").is_dir():
        raise FileNotFoundError(
            f"cannot find the course's source next to {root / 'coursekit'}: "
            "build the autograder from a checkout of the course with the course "
            "installed from it (make lab or pip install -e .)"
        )
    return root


def _write_executable(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def build_autograder(
    chapter: str,
    out: Path,
    *,
    hidden: Path | None = None,
    grade_options: Sequence[str] = (),
) -> Path:
    """Write Gradescope's autograder zip for ``chapter`` to ``out``.

    ``grade_options`` are passed to ``coursekit grade`` on each submission
    (``--timeout``, ``--memory``...). Returns ``out``.

    Raises:
        ValueError: an unknown chapter, or one with no exercise.
        FileNotFoundError: the course's source or ``hidden`` is not there.
    """
    chapter = normalize_chapter(chapter)
    if chapter not in EXERCISE_BASES:
        raise ValueError(
            f"chapter {chapter} has no exercise to grade; the exercises are "
            + ", ".join(sorted(EXERCISE_BASES))
        )
    if hidden is not None and not hidden.is_dir():
        raise FileNotFoundError(f"--hidden: no such folder: {hidden}")
    checks = list(checks_for(chapter))
    if hidden is not None:
        from coursekit.grading.hidden import load_hidden

        checks += load_hidden(hidden, chapter)  # fails here, not on Gradescope
    root = _course_root()
    options = ["--chapter", chapter, *grade_options]
    if hidden is not None:
        options += ["--hidden", '"$ROOT/source/hidden"']
    with tempfile.TemporaryDirectory(prefix="coursekit-autograder-") as tmp:
        stage = Path(tmp)
        course = stage / "course"
        course.mkdir()
        for name in COURSE_FILES:
            if (root / name).is_file():
                shutil.copy2(root / name, course / name)
        for package in COURSE_PACKAGES:
            shutil.copytree(root / package, course / package, ignore=_SKIP)
        if hidden is not None:
            shutil.copytree(hidden, stage / "hidden", ignore=_SKIP)
        needs_redis = int(any(c.needs_redis for c in checks))
        values = {
            "NEEDS_REDIS": str(needs_redis),
            "OPTIONS": " ".join(_shell_words(options)),
        }
        for name in ("setup.sh", "run_autograder"):
            text = (TEMPLATES / name).read_text(encoding="utf-8")
            for key, value in values.items():
                text = text.replace(f"@{key}@", value)
            _write_executable(stage / name, text)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(stage.rglob("*")):
                if path.is_file():
                    # Gradescope wants setup.sh and run_autograder at the root.
                    info = zipfile.ZipInfo.from_file(path, path.relative_to(stage))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())
        os.replace(partial, out)
    return out


def _shell_words(words: Sequence[str]) -> list[str]:
    import shlex

    # "$ROOT/..." stays expandable; everything else is quoted as given.
    return [w if w.startswith('"$ROOT/') else shlex.quote(w) for w in words]


# -- on Gradescope -----------------------------------------------------------


def _failure(message: str, started: float) -> dict[str, object]:
    return {
        "score": 0,
        "execution_time": round(time.monotonic() - started),
        "output": message,
        "output_format": "text",
        "tests": [],
    }


def _the_notebook(folder: Path, chapter: str) -> Path | str:
    """The submitted notebook, or a message saying why there is not exactly one."""
    found = sorted(
        p
        for p in folder.rglob("*.ipynb")
        if p.is_file() and not _NOT_SUBMITTED.intersection(p.relative_to(folder).parts)
    )
    if len(found) == 1:
        return found[0]
    named = [p for p in found if p.name.startswith(f"{chapter}_")]
    if len(named) == 1:
        return named[0]
    expected = f"your {chapter}_....ipynb (the exercise notebook, saved)"
    if not found:
        return f"No notebook was submitted: upload {expected}."
    names = ", ".join(str(p.relative_to(folder)) for p in found[:10])
    return (
        f"{len(found)} notebooks were submitted ({names}); upload exactly one: "
        f"{expected}."
    )


def grade_submission(
    root: Path, chapter: str, grade_options: Sequence[str] = ()
) -> dict[str, object]:
    """Grade the notebook in ``root/submission``; write and return ``results.json``.

    Whatever happens, ``root/results/results.json`` is written: a problem
    with the upload, or with the autograder itself, is its ``output`` with a
    score of 0, so that the learner reads what to do.
    """
    from coursekit.grading import report as report_files
    from coursekit.grading.cli import main as grade_main

    started = time.monotonic()
    results_path = root / "results" / "results.json"
    notebook = _the_notebook(root / "submission", chapter)
    if isinstance(notebook, str):
        data: dict[str, object] = _failure(notebook, started)
    else:
        out = root / "results" / "coursekit"
        # Whatever a submission left there (a kernel may have written to
        # results/ without the sandbox) is replaced, never read.
        shutil.rmtree(out, ignore_errors=True)
        try:
            args = [str(notebook), "--out", str(out), "--chapter", chapter]
            status = grade_main([*args, "--force", *grade_options])
            files = sorted((out / report_files.GRADESCOPE).rglob("*.json"))
            problem = "" if status == 0 and len(files) == 1 else f"exited with {status}"
        except Exception as exc:  # the learner must still get a results.json
            problem = f"failed: {type(exc).__name__}: {exc}"
        if not problem:
            data = json.loads(files[0].read_text(encoding="utf-8"))
        else:
            data = _failure(
                f"The autograder could not grade this submission (coursekit grade "
                f"{problem}; its log is in the autograder output). This is not "
                "your notebook's fault; tell your instructor.",
                started,
            )
    report_files._write_atomic(results_path, json.dumps(data, indent=1) + "\n")
    return data


def _check_install() -> int:
    """What ``setup.sh`` runs last: the course imports, and says what isolates."""
    from coursekit.grading.isolation import Isolation

    summary = Isolation(mode="auto", base=0).summary
    print(summary.banner())
    return 0


def _bad_grade_options(options: Sequence[str]) -> bool:
    """Whether ``coursekit grade`` refuses ``options`` (its parser says why)."""
    from coursekit.grading.cli import _parser as grade_parser

    reserved = {"--out", "--chapter", "--hidden", "--force"}
    taken = sorted(reserved.intersection(o.split("=")[0] for o in options))
    if taken:
        print(
            f"error: {', '.join(taken)} is set by the autograder itself; "
            "leave it out (see --help)",
            file=sys.stderr,
        )
        return True
    try:
        grade_parser().parse_args(["submission.ipynb", *options])
    except SystemExit:
        return True
    return False


def run_main(argv: Sequence[str] | None = None) -> int:
    """``python -m coursekit.grading.autograder``: what ``run_autograder`` runs."""
    parser = _Parser(
        prog="python -m coursekit.grading.autograder",
        description="Grade /autograder/submission/ for Gradescope (run by "
        "run_autograder; options after --chapter go to coursekit grade).",
    )
    parser.add_argument("--root", type=Path, default=Path("/autograder"))
    parser.add_argument("--chapter")
    parser.add_argument("--check-install", action="store_true")
    args, grade_options = parser.parse_known_args(argv)
    if args.check_install:
        return _check_install()
    if not args.chapter:
        parser.error("--chapter is required")
    data = grade_submission(args.root, normalize_chapter(args.chapter), grade_options)
    print(f"score: {data['score']}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``coursekit gradescope NN --out autograder.zip``; returns the exit status."""
    parser = _Parser(
        prog="coursekit gradescope",
        description="Build a Gradescope autograder (a zip to upload as the "
        "assignment's autograder) that grades chapter NN's exercise with "
        "coursekit grade. Options after the known ones (--timeout, --memory, "
        "--sandbox...) are passed to coursekit grade on Gradescope.",
    )
    parser.add_argument("chapter", help="the chapter whose exercise is graded (07)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("autograder.zip"),
        help="where to write the zip (autograder.zip)",
    )
    parser.add_argument(
        "--hidden", type=Path, help="folder of hidden checks to grade with (.py)"
    )
    args, grade_options = parser.parse_known_args(argv)
    if _bad_grade_options(grade_options):
        return USAGE_ERROR
    try:
        chapter = normalize_chapter(args.chapter)
        title = CHAPTERS[chapter][0]
        out = build_autograder(
            chapter, args.out, hidden=args.hidden, grade_options=grade_options
        )
    except (UnknownChapter, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    size = out.stat().st_size / 1024
    print(f"wrote {out} ({size:.0f} KiB): chapter {chapter}, {title}")
    print(
        "Upload it as the assignment's autograder (Configure Autograder > Zip "
        "file upload); the base image needs nothing else."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main())
