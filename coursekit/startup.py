"""Keep a slow optional import, which nothing here uses, out of start-up."""

from __future__ import annotations

import sys

__all__ = ["skip_unused_slow_imports"]


def skip_unused_slow_imports() -> None:
    """Make ``rfc3987_syntax`` look missing, before nbformat is imported.

    nbformat validates notebooks with jsonschema, which imports
    ``rfc3987_syntax`` when it is installed (it is: jsonschema's
    ``format-nongpl`` extra) only to check the "iri" string formats, which
    no notebook schema uses. Its import compiles about 35 Lark parsers and
    takes 1-2 s of every process that reads a notebook: each pytest run,
    each ``coursekit`` command (python-jsonschema/jsonschema#1428). Seen as
    missing, jsonschema skips those two format checks and nothing else.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
