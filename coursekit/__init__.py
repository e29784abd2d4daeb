"""The course's own tools.

- ``serve(app)``: a live uvicorn server inside the notebook's kernel.
- ``show(response)``: status, chosen headers and indented JSON body.
- ``check("02")``: the notebook's ``app`` against a chapter's contract.
- ``catch_up(4)``: the learner's package ``my_app/`` as the reference after
  chapter 4, with nothing of theirs lost.
- ``coursekit.contracts``: each chapter's behaviour as graded HTTP checks.
- the ``coursekit`` command: ``coursekit contract 02 --url ...``.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coursekit.catch_up import catch_up
    from coursekit.check import CheckError, CheckReport, check
    from coursekit.errors import CourseError
    from coursekit.serve import LiveServer, ServeError, serve
    from coursekit.show import show

# Imported on first use: the checker subprocess and the CLI import
# ``coursekit.contracts`` (and so this package) on every run, and need none of
# uvicorn, the live server or IPython's display.
_EXPORTS = {
    "catch_up": "coursekit.catch_up",
    "CheckError": "coursekit.check",
    "CheckReport": "coursekit.check",
    "check": "coursekit.check",
    "CourseError": "coursekit.errors",
    "LiveServer": "coursekit.serve",
    "ServeError": "coursekit.serve",
    "serve": "coursekit.serve",
    "show": "coursekit.show",
}

__all__ = [
    "CheckError",
    "CheckReport",
    "CourseError",
    "LiveServer",
    "ServeError",
    "catch_up",
    "check",
    "serve",
    "show",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'coursekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule sets it as an attribute of the package:
        # ``import coursekit.check`` would make ``coursekit.check`` the module,
        # and ``from coursekit import check`` would then hand out the module
        # instead of the function. The functions keep their names.
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
