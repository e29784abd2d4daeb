"""Near-copies among submissions, for the instructor to look at.

(Skeleton: the type the class report reads; the detection is being written.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["REFERENCE", "SimilarPair"]

#: The name a pair uses for the course's own solution.
REFERENCE = "reference solution"


@dataclass(frozen=True)
class SimilarPair:
    """Two submissions (or one and the reference) whose task code is near-identical."""

    first: str
    second: str
    #: 0..1: the share of the smaller side's task-code fingerprints found in
    #: the other (1: one contains the other).
    score: float
    #: "pair": two learners; "reference": a learner and ``REFERENCE``.
    kind: Literal["pair", "reference"]
