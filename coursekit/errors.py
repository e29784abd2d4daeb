"""The one exception type the course's tools raise at a learner.

In a notebook, a traceback through coursekit's internals hides the one line
that matters. IPython calls ``_render_traceback_`` when an exception has it,
so these errors show as their message alone: what went wrong, what to do.
"""

from __future__ import annotations


class CourseError(RuntimeError):
    """A mistake the learner can fix; the message says what and how."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]
