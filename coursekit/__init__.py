"""The course's own tools.

- ``serve(app)``: a live uvicorn server inside the notebook's kernel.
- ``show(response)``: status, chosen headers and indented JSON body.
- ``check("02")``: the notebook's ``app`` against a chapter's contract.
- ``coursekit.contracts``: each chapter's behaviour as graded HTTP checks.
- the ``coursekit`` command: ``coursekit contract 02 --url ...``.
"""

from coursekit.check import CheckError, CheckReport, check
from coursekit.errors import CourseError
from coursekit.serve import LiveServer, ServeError, serve
from coursekit.show import show

__all__ = [
    "CheckError",
    "CheckReport",
    "CourseError",
    "LiveServer",
    "ServeError",
    "check",
    "serve",
    "show",
]
