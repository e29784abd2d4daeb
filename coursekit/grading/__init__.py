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
- ``sandbox``, ``limits``, ``course_view``, ``isolation``: each kernel's
  bubblewrap sandbox, its limits, what of the course it sees.
- ``mutation``, ``harness``: the learner's own tests, run in a sandbox
  against the reference and its mutants.
- ``untrusted``, ``fingerprint``: a submission's text, shown as its own;
  what a grade depends on.

The exports load lazily: the harness runs as ``python -m
coursekit.grading.harness`` in every sandbox that tests a learner's tests,
and must not pay for the batch's imports (nbformat, jsonschema: seconds).
"""

import importlib
from typing import Any

__all__ = ["GradeSettings", "grade_batch", "main"]

_EXPORTS = {
    "GradeSettings": "coursekit.grading.batch",
    "grade_batch": "coursekit.grading.batch",
    "main": "coursekit.grading.cli",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'coursekit.grading' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
