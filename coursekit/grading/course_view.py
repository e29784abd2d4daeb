"""What of the course a graded submission sees.

A submission may use the course's tools (``coursekit``) and the reference
system as it stands after the chapter its exercise builds on
(``build_app(upto=N)``), and nothing more: with chapter N+1's files absent,
``create_app(upto=6)`` or importing a later chapter's router fails, so the
reference cannot earn the points of the chapter being graded. Which files
belong to which chapter is ``course_app.chapters``' manifest.

In the sandbox the files are bound read-only at their usual place; without
it, a read-only copy is put first on the kernel's ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CourseView"]

_TOOLS = "coursekit"
_REFERENCE = "course_app"


def _package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {name} is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def reference_files(base: int) -> tuple[str, ...]:
    """The package-relative files of the reference's chapters 1..``base``."""
    from course_app import chapters

    return tuple(chapters.files_upto(base))


@dataclass(frozen=True)
class CourseView:
    """The tools whole, and the reference's files up to chapter ``base``."""

    base: int
    tools: Path
    reference: Path
    files: tuple[str, ...]

    @classmethod
    def for_base(cls, base: int) -> CourseView:
        """The view for an exercise built on ``create_app(upto=base)``."""
        return cls(
            base=base,
            tools=_package_folder(_TOOLS),
            reference=_package_folder(_REFERENCE),
            files=reference_files(base),
        )

    def reference_paths(self) -> Iterator[tuple[Path, Path]]:
        """Each visible reference file, with its compiled copy where one exists.

        The compiled ``__pycache__`` files spare every kernel compiling the
        modules again (it cannot write them in a read-only view).
        """
        for name in self.files:
            source = self.reference / name
            yield source, Path(name)
            if source.suffix == ".py":
                cache = source.parent / "__pycache__"
                for compiled in sorted(cache.glob(f"{source.stem}.*.pyc")):
                    yield compiled, compiled.relative_to(self.reference)

    def sandbox_binds(
        self,
    ) -> tuple[list[Path], list[tuple[Path, Path]], list[Path]]:
        """``(read_only, files, masked)`` for ``Bubblewrap.command``."""
        files = [
            (source, self.reference / rel) for source, rel in self.reference_paths()
        ]
        return [self.tools], files, [self.reference]

    def copy_to(self, folder: Path) -> Path:
        """A read-only copy of the view in ``folder``; returns it, for PYTHONPATH."""
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            self.tools,
            folder / _TOOLS,
            ignore=shutil.ignore_patterns("*.pyc.*"),
            dirs_exist_ok=True,
        )
        reference = folder / _REFERENCE
        if self.files:
            for source, rel in self.reference_paths():
                target = reference / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        _make_read_only(folder)
        return folder


def _make_read_only(folder: Path) -> None:
    read_only = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    for path in [*folder.rglob("*"), folder]:
        if path.is_symlink():
            continue
        path.chmod(path.stat().st_mode & read_only)
