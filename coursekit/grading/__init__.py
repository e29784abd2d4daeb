"""``coursekit grade``: grade a batch of submitted notebooks, for instructors.

Each submission runs in a fresh kernel; its ``app`` is then served from
inside that kernel and the chapter's contract is run against it from the
grading process, over HTTP, so code in the notebook cannot fake a pass.

- ``submission``: find, validate and execute one notebook.
- ``kernels``: a kernel per submission, the next one started ahead.
- ``agent``: the cell the grader runs inside the kernel to serve ``app``.
- ``hidden``: the instructor's extra checks (``--hidden DIR``).
- ``report``: ``grades.csv``, ``results.json`` and the learners' feedback.
- ``batch``: many submissions on parallel kernels, resumable.
- ``cli``: the ``coursekit grade`` command.
- ``variants``: known-wrong solutions and their grades (tests, ``make bench``).
"""

from coursekit.grading.batch import GradeSettings, grade_batch
from coursekit.grading.cli import main

__all__ = ["GradeSettings", "grade_batch", "main"]
