"""Text that comes from a submission, made safe to show as the submission's.

A notebook controls the messages of the exceptions it raises, the names of
its exception classes, its app's response bodies and headers, and (through
the file names an instructor receives) its own name. None of that may read
as the grader's own words in feedback or in ``grades.csv``: an exception
whose message holds newlines must not add a line "Status: graded" to a
learner's feedback, an escape sequence must not repaint the instructor's
terminal, and a cell must not turn into a spreadsheet formula.
"""

from __future__ import annotations

import re

__all__ = ["csv_cell", "one_line", "quote"]

#: C0 and C1 controls (newlines included), DEL, the line and paragraph
#: separators, and the bidirectional overrides that reorder what is shown.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\u{ord(char):04x}")


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line: controls shown as escapes, clipped to ``limit``."""
    safe = _UNSAFE.sub(_escape, text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def quote(text: str, limit: int = 300) -> str:
    """``text`` in double quotes, on one line: unmistakably the submission's."""
    return '"' + one_line(text, limit).replace('"', '\\"') + '"'


def csv_cell(text: str) -> str:
    """``text`` for a CSV cell that a spreadsheet opens as text, not a formula."""
    safe = one_line(text, 500)
    return "'" + safe if safe[:1] in ("=", "+", "-", "@") else safe
