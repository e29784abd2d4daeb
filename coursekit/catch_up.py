"""The learner's own package, and the one line that catches it up.

The course builds one system, and the learner keeps it as a real package on
disk, `my_app/`, in their workspace: the folder the notebooks run in, or
`$COURSEKIT_WORKSPACE` when that is set (the test suite gives each notebook
a fresh one). Lessons write its modules; `uvicorn my_app.main:app --reload`
serves it outside the notebook and pytest tests it.

`catch_up(N)` makes that package hold the reference system as it stands
after chapter N: the files of `course_app.chapters.files_upto(N)`, copied
under the learner's package name (the reference imports itself relatively,
so a copy works under any name). A file that is missing is written, one
that already matches is left alone, and a learner's file that differs is
kept unless `replace=True`, which first moves it aside into
`my_app_saved/<when>/`, so that nothing of theirs is ever lost.

`%%module routers/root.py` (registered when this module is imported in a
notebook) writes a cell into the package as that module.
"""

from __future__ import annotations

import filecmp
import importlib
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Final

from coursekit.errors import CourseError

#: The learner's package: what `uvicorn my_app.main:app` imports.
PACKAGE: Final = "my_app"

#: Where the package lives, if not in the current folder.
WORKSPACE_ENV: Final = "COURSEKIT_WORKSPACE"


class CatchUpError(CourseError):
    """The package could not be caught up; the message says why and what to do."""


@dataclass
class CatchUp:
    """What `catch_up` did, file by file (paths relative to the package)."""

    #: What was asked for: a chapter (4) or a lesson that teaches part of one
    #: ("04a").
    chapter: int | str
    package_dir: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    moved_aside: list[str] = field(default_factory=list)
    saved_to: Path | None = None

    def summary(self) -> str:
        """The lines `catch_up` prints: what changed, and what to do next."""
        name = self.package_dir.name
        lines = []
        if not self.written and not self.kept:
            lines.append(f"{name}/ already holds {self._what()}: nothing to do.")
        elif self.written:
            lines.append(
                f"{name}/: wrote {_count(self.written)} of the reference's "
                f"{self._what()}: {', '.join(self.written)}"
            )
        if self.unchanged and self.written:
            lines.append(f"  already there and the same: {_count(self.unchanged)}")
        if self.moved_aside:
            lines.append(
                f"  yours, moved aside into {self.saved_to}: "
                + ", ".join(self.moved_aside)
            )
        if self.kept:
            lines.append(
                f"  yours, kept as you wrote them: {', '.join(self.kept)}\n"
                f"  (catch_up({self.chapter!r}, replace=True) puts the reference's "
                f"in their place and moves yours aside)"
            )
        return "\n".join(lines)

    def _what(self) -> str:
        if isinstance(self.chapter, str):
            return f"chapters up to lesson {self.chapter}"
        return "chapter 1" if self.chapter == 1 else f"chapters 1 to {self.chapter}"


def _count(paths: list[str]) -> str:
    return f"{len(paths)} file" + ("" if len(paths) == 1 else "s")


def workspace() -> Path:
    """The folder that holds the learner's package: `$COURSEKIT_WORKSPACE` or `.`."""
    return Path(os.environ.get(WORKSPACE_ENV) or ".").resolve()


def package_dir() -> Path:
    """The learner's package folder, `<workspace>/my_app`."""
    return workspace() / PACKAGE


def _reference_dir() -> Path:
    import course_app

    return Path(course_app.__file__).parent


def _files(step: int | str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The reference's files after `step` (a chapter, or a lesson such as
    "04a"), and those of the manifest that come after it."""
    from course_app import chapters

    last = max(chapters.CHAPTER_FILES)
    lessons = ", ".join(repr(name) for name in chapters.LESSON_PARTS)
    if isinstance(step, str) and step in chapters.LESSON_PARTS:
        chapter, part = chapters.LESSON_PARTS[step]
        files = (*chapters.files_upto(chapter - 1), *part)
    elif isinstance(step, int) and not isinstance(step, bool) and 1 <= step <= last:
        chapter = step
        files = chapters.files_upto(step)
    else:
        raise CatchUpError(
            f"catch_up needs a chapter number from 1 to {last} (an int), or one of "
            f"the lessons that teach part of a chapter ({lessons}); got {step!r}"
        )
    available = chapters.available_upto()
    if chapter > available:
        raise CatchUpError(
            f"catch_up({step!r}): only chapters 1 to {available} of the reference "
            "are here (while an exercise is graded, only the chapters it builds "
            "on are), so the package cannot be caught up past them"
        )
    every = chapters.files_upto(last)
    return files, tuple(path for path in every if path not in files)


def plan_catch_up(
    chapter: int | str, *, replace: bool = False, into: Path | None = None
) -> CatchUp:
    """Catch the package at `into` (default `package_dir()`) up; say what was done.

    `catch_up` is this plus printing and re-importing; tests call it directly.
    """
    files, later_files = _files(chapter)
    target = package_dir() if into is None else into
    source = _reference_dir()
    done = CatchUp(chapter=chapter, package_dir=target)
    try:
        if target.exists() and not target.is_dir():
            raise CatchUpError(
                f"{target} is a file, not a folder: rename it, then run catch_up "
                "again to create the package there"
            )
        differing = [
            path
            for path in files
            if (target / path).exists()
            and not filecmp.cmp(source / path, target / path, shallow=False)
        ]
        # The reference's state after chapter N has none of the later
        # chapters' modules (create_app would not use them, but
        # chapters.available_upto would count them).
        later = [path for path in later_files if (target / path).exists()]
        if replace and (differing or later):
            stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
            done.saved_to = target.parent / f"{target.name}_saved" / stamp
            for path in [*differing, *later]:
                destination = done.saved_to / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(target / path, destination)
                done.moved_aside.append(path)
        for path in files:
            destination = target / path
            if destination.exists():
                if path in differing and not replace:
                    done.kept.append(path)
                else:
                    done.unchanged.append(path)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / path, destination)
            _drop_bytecode(destination)
            done.written.append(path)
    except OSError as exc:
        raise CatchUpError(
            f"catch_up({chapter!r}) could not write into {target}: "
            f"{exc.strerror or exc} ({exc.filename or target}). Nothing of yours "
            "was deleted; what was moved aside so far is in "
            f"{done.saved_to or 'no folder (nothing was moved)'}."
        ) from None
    return done


def _drop_bytecode(module_file: Path) -> None:
    # A bytecode cache of the file just replaced could pass for it (same
    # second, same size): the next import compiles afresh.
    Path(importlib.util.cache_from_source(str(module_file))).unlink(missing_ok=True)


def _import_afresh(package_folder: Path) -> list[str]:
    # The package imports from its workspace, and a module imported before
    # the files changed would otherwise be used again by the next import.
    folder = str(package_folder.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    package = package_folder.name
    old = _package_objects(package)
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    return _refresh_names(old)


#: Values a name may share with a module's attribute by chance (small ints
#: and strings are interned): never rebound, and never stale in a way that
#: matters, since they cannot change.
_IMMUTABLE = (str, bytes, int, float, complex, bool, tuple, frozenset, type(None))


def _package_objects(package: str) -> dict[int, tuple[str, str]]:
    """Each object the package's imported modules hold: id -> (module, name)."""
    objects: dict[int, tuple[str, str]] = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not (
            module_name == package or module_name.startswith(package + ".")
        ):
            continue
        objects.setdefault(id(module), (module_name, ""))
        for attribute, value in vars(module).items():
            if attribute.startswith("__") or isinstance(value, _IMMUTABLE):
                continue
            # What the module imported from elsewhere (FastAPI, Depends)
            # stays what it is; instances and aliases (a router, SessionDep)
            # may wrap the package's code, so they count as its own.
            owner = getattr(
                value,
                "__name__" if isinstance(value, ModuleType) else "__module__",
                None,
            )
            foreign = isinstance(value, ModuleType | type | FunctionType) and not (
                isinstance(owner, str)
                and (owner == package or owner.startswith(package + "."))
            )
            if not foreign:
                objects.setdefault(id(value), (module_name, attribute))
    return objects


def _refresh_names(old: dict[int, tuple[str, str]]) -> list[str]:
    # A notebook that ran `from my_app.deps import get_session` before the
    # package was imported afresh holds the old function, which the new app
    # does not know: an override keyed by it silently replaces nothing. So
    # the kernel's names that point at the old package's objects are pointed
    # at the new ones, as IPython's autoreload does for edited modules, and
    # as silently: every import afresh makes new objects, so a note would
    # follow every %%module cell of a lesson.
    namespace = _user_namespace()
    if namespace is None or not old:
        return []
    refreshed = []
    for name, value in list(namespace.items()):
        if name.startswith("_") or isinstance(value, _IMMUTABLE):
            continue
        origin = old.get(id(value))
        if origin is None:
            continue
        module_name, attribute = origin
        try:
            module = importlib.import_module(module_name)
            fresh = getattr(module, attribute) if attribute else module
        except Exception:  # a broken or removed module: the old one stays
            continue
        if fresh is not value:
            namespace[name] = fresh
            refreshed.append(name)
    return sorted(refreshed)


def _user_namespace() -> dict[str, object] | None:
    """The running notebook's variables, if this runs in IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    namespace = getattr(shell, "user_ns", None)
    return namespace if isinstance(namespace, dict) else None


def catch_up(chapter: int | str, *, replace: bool = False) -> None:
    """Make the learner's package `my_app/` hold the reference after `chapter`.

    `chapter` is a chapter's number, or the name of a lesson that teaches a
    part of one (`"04a"`: chapters 1 to 3 and what lesson 04a adds).

    Missing files are written from the reference; files that match are left
    alone; your own files that differ are kept, or, with `replace=True`,
    moved aside into `my_app_saved/` and replaced. Then `my_app` imports
    afresh, from the workspace (`$COURSEKIT_WORKSPACE`, or the current
    folder):

        catch_up(4)
        from my_app.main import create_app
        app = create_app(upto=4)
    """
    done = plan_catch_up(chapter, replace=replace)
    _import_afresh(done.package_dir)
    print(done.summary())


#: What `%%module` writes: modules, and chapter 11's templates and stylesheet.
WRITABLE_SUFFIXES = frozenset({".py", ".html", ".css"})


def write_module(path: str, source: str) -> str:
    """Write `source` into the learner's package as `my_app/<path>`; say what happened.

    `path` is relative to the package (`"routers/root.py"`, or a data file
    of chapter 11: `"templates/base.html"`, `"static/site.css"`). Folders are
    created as needed, and the package imports afresh afterwards, so that
    the next `import` sees what was written. This is what `%%module <path>`
    does with the cell below its first line.
    """
    relative = Path(path.strip())
    if (
        not path.strip()
        or relative.is_absolute()
        or ".." in relative.parts
        or relative.suffix not in WRITABLE_SUFFIXES
    ):
        raise CatchUpError(
            f"%%module needs a module's path inside {PACKAGE}/, such as "
            "routers/root.py (or a page's template or stylesheet, such as "
            f"templates/base.html); got {path.strip()!r}"
        )
    destination = package_dir() / relative
    shown = f"{PACKAGE}/{relative.as_posix()}"
    text = source if source.endswith("\n") else source + "\n"
    try:
        before = destination.read_text() if destination.is_file() else None
        if before == text:
            verdict = "unchanged"
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text)
            _drop_bytecode(destination)
            verdict = "written" if before is None else "rewritten"
    except OSError as exc:
        raise CatchUpError(
            f"could not write {shown}: {exc.strerror or exc}. The cell's code is "
            "unchanged above; fix the folder's permissions and run the cell again."
        ) from None
    _import_afresh(package_dir())
    lines = text.count("\n")
    return f"{shown}: {verdict} ({lines} line{'' if lines == 1 else 's'})"


def _module_magic(line: str, cell: str) -> None:
    print(write_module(line, cell))


def register_magic() -> None:
    """Make `%%module <path>` available in the running IPython shell, if any."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "register_magic_function"):
        return
    shell.register_magic_function(_module_magic, magic_kind="cell", magic_name="module")


register_magic()
