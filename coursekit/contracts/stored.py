"""What an app wrote to disk, for the checks that HTTP cannot answer.

How a password is stored never shows in a response. Where the app keeps its
users in a file (chapter 04's SQLite database), a check can look: it signs
up a user with a password of its own, then searches the files the app wrote
since the run began for that password's text. The grader searches the
submission's own folder, from outside its sandbox, so the submission cannot
hide or fake what is there; ``check()`` searches the notebook's working and
temporary folders.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["StoredFiles"]

#: Files larger than this are not read (a database of a course's size is
#: far smaller).
MAX_FILE = 64 * 1024 * 1024
#: How deep under each root files are searched.
MAX_DEPTH = 3


@dataclass(frozen=True)
class StoredFiles:
    """The files under ``roots`` changed since ``since`` (a ``time.time()``)."""

    roots: Sequence[Path]
    since: float = field(default_factory=time.time)

    def changed(self) -> Iterable[Path]:
        """Every regular file under the roots written since ``since``."""
        # A second of slack: file times are not finer on every file system.
        oldest = self.since - 1
        for root in self.roots:
            stack = [(Path(root), 0)]
            while stack:
                folder, depth = stack.pop()
                try:
                    entries = list(os.scandir(folder))
                except OSError:
                    continue
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
                        stack.append((Path(entry.path), depth + 1))
                    elif (
                        stat.S_ISREG(info.st_mode)
                        and info.st_mtime >= oldest
                        and info.st_size <= MAX_FILE
                    ):
                        yield Path(entry.path)

    def containing(self, text: str) -> list[str]:
        """The names of the changed files whose bytes hold ``text`` (UTF-8)."""
        needle = text.encode()
        found: list[str] = []
        for path in self.changed():
            try:
                if needle in path.read_bytes():
                    found.append(path.name)
            except OSError:
                continue
        return sorted(found)
