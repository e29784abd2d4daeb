"""The course's own tools.

- ``serve(app)``: a live uvicorn server inside the notebook's kernel.
- ``coursekit.contracts``: each chapter's behaviour as graded HTTP checks.
- the ``coursekit`` command: ``coursekit contract 02 --url ...``.
"""

from coursekit.serve import LiveServer, ServeError, serve

__all__ = ["LiveServer", "ServeError", "serve"]
