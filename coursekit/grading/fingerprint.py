"""Fingerprints: of the course's files, and of everything a grade depends on.

A resumed run keeps a row only when the submission, the course (its tools,
checks and reference), the hidden checks and the limits are all what they
were when the row was made. The course's fingerprint also covers what a
Python environment loads before any code runs (``.pth`` files, the list of
installed packages), so a submission that changed the course or planted a
``.pth`` file where the sandbox could not stop it (without bubblewrap) is
found out before the next submission is graded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import site
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "code_fingerprint",
    "course_fingerprint",
    "files_fingerprint",
    "grading_fingerprint",
]

_PACKAGES = ("coursekit", "course_app")
#: What a package's fingerprint reads: code and the data it loads.
_SUFFIXES = {".py", ".md", ".json", ".cfg", ".txt"}


def _package_files(name: str) -> list[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix in _SUFFIXES
        and "__pycache__" not in path.parts
    )


def _package_root(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _site_folders() -> list[Path]:
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return [Path(f) for f in dict.fromkeys(folders) if Path(f).is_dir()]


def files_fingerprint(
    paths: Iterable[Path], digest: hashlib._Hash | None = None
) -> str:
    """The SHA-256 of the files' names and contents, in the order given."""
    digest = digest or hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()


def course_fingerprint() -> str:
    """The course's code and the environment's start-up hooks, as one hash."""
    digest = hashlib.sha256()
    digest.update(sys.version.encode())
    files: list[Path] = []
    for name in _PACKAGES:
        files += _package_files(name)
    for folder in _site_folders():
        # Every .pth file runs at start-up; the names of the installed
        # distributions show a package installed behind the course's back.
        files += sorted(folder.glob("*.pth"))
        names = sorted(p.name for p in folder.iterdir())
        digest.update("\n".join(names).encode())
    return files_fingerprint(files, digest)


def code_fingerprint() -> str:
    """The course's code and the installed packages' versions, wherever installed.

    What grading on another machine must share with the coordinator: unlike
    ``course_fingerprint``, it names files by their place in the package, not
    on disk, so the same image or lock file gives the same hash anywhere.
    """
    digest = hashlib.sha256()
    digest.update("{}.{}".format(*sys.version_info[:2]).encode() + b"\0")
    for name in _PACKAGES:
        files = _package_files(name)
        for path in files:
            relative = path.relative_to(_package_root(name))
            digest.update(f"{name}/{relative.as_posix()}".encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    versions = sorted(
        {
            f"{dist.metadata['Name']}=={dist.version}".lower()
            for dist in importlib.metadata.distributions()
            if dist.metadata["Name"]
        }
    )
    digest.update("\n".join(versions).encode())
    return digest.hexdigest()


def grading_fingerprint(*parts: str | Iterable[Path]) -> str:
    """One hash of the course and ``parts`` (texts, or files to read)."""
    digest = hashlib.sha256(course_fingerprint().encode())
    for part in parts:
        if isinstance(part, str):
            digest.update(part.encode() + b"\0")
        else:
            digest.update(files_fingerprint(sorted(part)).encode())
    return digest.hexdigest()
