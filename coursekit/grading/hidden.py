"""The instructor's hidden checks: ``--hidden DIR``.

Each ``*.py`` file in DIR declares checks with the contract's own
``@check(task=..., points=..., hint=...)`` decorator (from
``coursekit.contracts.registry``). They are imported by path under a module
name that makes the registry file them under the chapter being graded, and
then taken out of the registry again, so that ``check()`` and the contract
CLI in this process never see them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from coursekit.contracts import registry
from coursekit.contracts.registry import Check, checks_for

__all__ = ["HiddenChecksError", "load_hidden"]


class HiddenChecksError(ValueError):
    """A hidden-checks file could not be loaded; the message names it."""


def load_hidden(folder: Path, chapter: str) -> list[Check]:
    """The checks that the ``*.py`` files in ``folder`` declare for ``chapter``.

    Raises:
        HiddenChecksError: no such folder, a file failed to import, or a
            check's name is already used by the chapter's contract (the
            registry would silently replace the contract's check).
    """
    if not folder.is_dir():
        raise HiddenChecksError(f"--hidden: no such folder: {folder}")
    contract = checks_for(chapter)  # loaded first: registration order matters
    taken = {c.name for c in contract}
    registered = registry._registered.setdefault(chapter, [])
    before = list(registered)
    hidden: list[Check] = []
    try:
        for index, path in enumerate(sorted(folder.glob("*.py"))):
            stem = re.sub(r"\W", "_", path.stem)
            # The registry takes a check's chapter from its module's name.
            name = f"_coursekit_hidden_{index}.ch{chapter}_{stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise HiddenChecksError(f"--hidden: cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            size = len(registered)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise HiddenChecksError(
                    f"--hidden: {path} failed to import: {type(exc).__name__}: {exc}"
                ) from None
            clash = [c.name for c in before if c not in registered]
            if clash:
                raise HiddenChecksError(
                    f"--hidden: {path} declares {', '.join(clash)}, a name the "
                    f"chapter {chapter} contract already uses; rename the function"
                )
            new = registered[size:]
            hidden += [c for c in new if c.name not in taken]
            taken.update(c.name for c in new)
    finally:
        registered[:] = before
    return hidden
