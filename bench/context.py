"""What every benchmark section is given: how many runs, and where to log."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["Context"]


@dataclass
class Context:
    """Settings shared by the sections of one ``make bench`` run.

    Attributes:
        repeats: runs per measurement; rows report their median and spread.
        quick: shorter runs, for trying the harness out (not for RESULTS.md).
        stream: where progress lines go (stderr: stdout holds the table).
    """

    repeats: int = 3
    quick: bool = False
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    _start: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> None:
        """A progress line, stamped with the seconds since the run began."""
        elapsed = time.perf_counter() - self._start
        print(f"[{elapsed:6.1f} s] {message}", file=self.stream, flush=True)
