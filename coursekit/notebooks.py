"""Execute course notebooks top to bottom in a fresh kernel and save them.

``coursekit run notebooks/*.ipynb`` (or ``make notebooks``) is how the saved
outputs of the lessons are made. It runs each notebook the way nbval will
check it: the kernel of this environment, started in the notebook's folder,
a time limit per cell, and an empty workspace for the learner's package
(``coursekit.catch_up``). Before saving, the same sanitizer rules that nbval
applies (``tests/nbval-sanitize.cfg``) are applied to the outputs, so the
files hold no ports or other machine-specific values; a notebook that fails
is left untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets.config import Config

from coursekit.catch_up import WORKSPACE_ENV
from coursekit.errors import CourseError
from coursekit.progress import Progress

__all__ = [
    "NotebookError",
    "execute",
    "ipc_kernel_config",
    "load_sanitizer",
    "main",
    "sanitize",
]

#: The rules nbval applies before comparing outputs; the saved files get them too.
SANITIZER = Path(__file__).resolve().parent.parent / "tests" / "nbval-sanitize.cfg"
#: Seconds any one cell may run; the same limit nbval gets.
CELL_TIMEOUT = 120
#: Metadata that differs between machines and means nothing to a reader.
_VOLATILE_LANGUAGE_INFO = ("version",)


class NotebookError(CourseError):
    """A notebook could not be executed; the message names the cell."""


def load_sanitizer(path: Path = SANITIZER) -> list[tuple[str, str]]:
    """The (regex, replacement) pairs of an nbval sanitizer file.

    nbval's format: a ``regex:`` line immediately followed by a ``replace:``
    line. Anything else is a mistake nbval would ignore silently, so here
    it is an error.
    """
    pairs: list[tuple[str, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    pending: str | None = None
    for number, line in enumerate(lines, 1):
        if line.startswith("regex: "):
            if pending is not None:
                raise NotebookError(f"{path}:{number}: two regex: lines in a row")
            pending = line.removeprefix("regex: ")
            re.compile(pending)
        elif line.startswith("replace: "):
            if pending is None:
                raise NotebookError(f"{path}:{number}: replace: without regex:")
            pairs.append((pending, line.removeprefix("replace: ")))
            pending = None
        elif (line.strip() and not line.startswith("#")) or pending is not None:
            raise NotebookError(
                f"{path}:{number}: expected a 'regex: ' line followed at once by a "
                "'replace: ' line (nbval drops anything else without a word)"
            )
    if pending is not None:
        raise NotebookError(f"{path}: the last regex: has no replace: line")
    return pairs


def _sanitize_value(value: object, rules: list[tuple[str, str]]) -> object:
    if isinstance(value, str):
        for regex, replacement in rules:
            value = re.sub(regex, replacement, value)
        return value
    if isinstance(value, list):
        return [_sanitize_value(v, rules) for v in value]
    return value


def sanitize(nb: nbformat.NotebookNode, rules: list[tuple[str, str]]) -> None:
    """Apply the rules to every text output, in place, as nbval does.

    Also shortens saved tracebacks to their last line and drops the Python
    version from the metadata: both differ between machines.
    """
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                # The full traceback names this machine's paths and carries
                # colour codes; nbval does not compare it, and the learner
                # who runs the cell sees it whole. Keep the last line.
                output["traceback"] = [f"{output['ename']}: {output['evalue']}"]
            if "text" in output:
                output["text"] = _sanitize_value(output["text"], rules)
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    output["data"][mime] = _sanitize_value(value, rules)
    language_info = nb.metadata.get("language_info", {})
    for key in _VOLATILE_LANGUAGE_INFO:
        language_info.pop(key, None)


def _failure(
    path: Path, cell: int | None, exc: Exception, timeout: float, kernel_log: str
) -> NotebookError:
    where = f"cell {cell + 1}" if cell is not None else "a cell"
    if isinstance(exc, CellTimeoutError):
        return NotebookError(
            f"{path}: {where} ran longer than {timeout:g} s, the limit per cell. "
            "Look for a wait that never ends, or pass a larger --timeout."
        )
    if isinstance(exc, DeadKernelError):
        tail = "\n".join(kernel_log.strip().splitlines()[-10:])
        return NotebookError(
            f"{path}: the kernel died while running {where}."
            + (f" Its last words:\n{tail}" if tail else "")
        )
    detail = getattr(exc, "ename", type(exc).__name__)
    value = getattr(exc, "evalue", str(exc))
    return NotebookError(
        f"{path}: {where} raised {detail}: {value}\n"
        "(a cell that is meant to raise needs the tag 'raises-exception')"
    )


def ipc_kernel_config(folder: Path) -> Config:
    """Kernel settings for talking over IPC sockets kept in ``folder``.

    No TCP ports for other local users (or other notebooks) to talk to, and
    ipykernel does not warn about unencrypted TCP.
    """
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(folder / "kernel")
    return config


@contextlib.contextmanager
def fresh_workspace() -> Iterator[Path]:
    """An empty workspace for the learner's package while a notebook runs.

    The kernel inherits it as `$COURSEKIT_WORKSPACE`, so `catch_up` writes
    `my_app/` there and not next to the notebook: the saved outputs are the
    same whichever notebooks ran before, and the repository stays clean.
    """
    previous = os.environ.get(WORKSPACE_ENV)
    with tempfile.TemporaryDirectory(prefix="coursekit-workspace-") as folder:
        os.environ[WORKSPACE_ENV] = folder
        try:
            yield Path(folder)
        finally:
            if previous is None:
                os.environ.pop(WORKSPACE_ENV, None)
            else:
                os.environ[WORKSPACE_ENV] = previous


def execute(path: Path, *, cell_timeout: float = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` in a fresh kernel; returns it with outputs.

    Raises:
        NotebookError: a cell failed (unless tagged ``raises-exception``),
            timed out, or killed the kernel.
    """
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        raise NotebookError(f"{path}: not a readable notebook ({exc})") from None
    with (
        tempfile.TemporaryDirectory(prefix="coursekit-kernel-") as sockets,
        fresh_workspace(),
    ):
        client = NotebookClient(
            nb,
            config=ipc_kernel_config(Path(sockets)),
            kernel_name="python3",
            timeout=int(cell_timeout),
            record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        running: list[int] = []
        client.on_cell_start = lambda cell, cell_index: running.append(cell_index)
        # The kernel's own log (not the cells' output, which comes over
        # ZMQ) would interleave with ours; keep it for when the kernel dies.
        kernel_log = Path(sockets, "kernel.log")
        with kernel_log.open("w") as log:
            try:
                client.execute(stdout=log, stderr=log)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                log.flush()
                cell = running[-1] if running else None
                raise _failure(
                    path, cell, exc, cell_timeout, kernel_log.read_text()
                ) from None
    return nb


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coursekit run",
        description="Execute notebooks top to bottom and save their outputs.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument(
        "--timeout",
        type=float,
        default=CELL_TIMEOUT,
        help=f"seconds any one cell may run (default {CELL_TIMEOUT})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Execute and save each notebook; returns 1 if any failed."""
    args = _parser().parse_args(argv)
    try:
        rules = load_sanitizer()
    except (OSError, NotebookError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    with Progress(
        len(args.notebooks), label="running", unit="notebooks", stream=sys.stdout
    ) as bar:
        for path in args.notebooks:
            start = time.perf_counter()
            name = str(path)
            bar.started(name)
            if not bar.live:  # a log shows which notebook a long wait is in
                print(f"==> {path}", end=" ", flush=True)
            head = "" if not bar.live else f"==> {path} "
            try:
                nb = execute(path, cell_timeout=args.timeout)
            except NotebookError as exc:
                failed += 1
                bar.finished(name, f"{head}FAILED (file left unchanged)")
                if bar.live:
                    bar.print(f"    {exc}")
                else:
                    print(f"    {exc}", file=sys.stderr, flush=True)
                continue
            sanitize(nb, rules)
            nbformat.write(nb, path)
            bar.finished(name, f"{head}ok ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0
