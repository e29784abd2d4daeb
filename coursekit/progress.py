"""Progress you can see: done of total, rate, time left, what runs now.

On a terminal it is a live bar drawn by rich, with each finished item's line
printed above it; anywhere else (a log, CI, a pipe) only those lines are
printed, exactly as without a bar. ``coursekit grade`` and ``coursekit run``
(``make notebooks``) use it.

::

    with Progress(len(items), label="grading", unit="submissions") as bar:
        for item in items:
            bar.started(item.name)
            ...
            bar.finished(item.name, f"{item.name}: done")
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
)
from rich.progress import Progress as RichProgress

__all__ = ["Progress"]

#: ``COURSEKIT_PROGRESS=lines`` prints lines even on a terminal; ``bar``
#: draws the bar even where the output does not look like one.
ENV = "COURSEKIT_PROGRESS"


class Progress:
    """A progress display for ``total`` items (see the module's docstring)."""

    def __init__(
        self,
        total: int,
        *,
        label: str,
        unit: str,
        stream: TextIO | None = None,
        terminal: bool | None = None,
        width: int | None = None,
    ) -> None:
        """
        Args:
            total: how many items there are.
            label: what is being done ("grading").
            unit: what the items are, plural ("submissions"), for the rate.
            stream: where to write (stderr by default).
            terminal: draw the bar (True), print lines (False), or decide
                from ``stream`` and ``$COURSEKIT_PROGRESS`` (None).
            width: the console's width (the terminal's by default).
        """
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        choice = os.environ.get(ENV, "")
        if terminal is None and choice in ("bar", "lines"):
            terminal = choice == "bar"
        self._console = Console(
            file=self.stream,
            force_terminal=terminal,
            width=width,
            highlight=False,
            emoji=False,
            soft_wrap=True,
        )
        self.live = bool(
            terminal
            if terminal is not None
            else self._console.is_terminal and not self._console.is_dumb_terminal
        )
        self._lock = threading.Lock()
        self._running: list[str] = []
        self._done = 0
        self._start = time.monotonic()
        self._bar: RichProgress | None = None
        self._task = None

    def __enter__(self) -> Progress:
        if self.live:
            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[left]}"),
                TextColumn("{task.fields[now]}"),
                console=self._console,
                transient=False,
                refresh_per_second=4,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self.label, total=self.total, rate="", left="", now=""
            )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def rate(self) -> str:
        """Items a minute so far ("" before the first is done)."""
        elapsed = time.monotonic() - self._start
        if not self._done or elapsed <= 0:
            return ""
        return f"{self._done / elapsed * 60:.1f} {self.unit}/min"

    def left(self) -> str:
        """The time left at the rate so far, as H:MM:SS ("" before it is known)."""
        elapsed = time.monotonic() - self._start
        if not self._done or elapsed <= 0:
            return ""
        seconds = round((self.total - self._done) * elapsed / self._done)
        hours, rest = divmod(seconds, 3600)
        return f"{hours}:{rest // 60:02}:{rest % 60:02} left"

    def _refresh(self) -> None:
        if self._bar is None or self._task is None:
            return
        now = ", ".join(self._running[:3])
        if len(self._running) > 3:
            now += f" +{len(self._running) - 3}"
        self._bar.update(
            self._task,
            completed=self._done,
            rate=self.rate(),
            left=self.left(),
            now=f"now: {now}" if now else "",
        )

    def started(self, name: str) -> None:
        """``name`` is being worked on (shown on the bar until it finishes)."""
        with self._lock:
            self._running.append(name)
            self._refresh()

    def finished(self, name: str, line: str) -> None:
        """``name`` is done: print ``line`` and move the bar on."""
        with self._lock:
            if name in self._running:
                self._running.remove(name)
            self._done += 1
            self.print(line)
            self._refresh()

    def print(self, line: str) -> None:
        """A line of its own (above the bar on a terminal)."""
        if self._bar is not None:
            # markup=False: the line may hold a submission's name.
            self._console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)
