"""Teaching messages for mistakes that happen in a notebook cell, not in coursekit.

``uvicorn.run(app)`` in a cell fails deep inside asyncio ("Cannot run the
event loop while another loop is running") with two chained tracebacks. When
coursekit's live server is imported in an IPython kernel, ``install()`` asks
IPython to show that one error as a line that says what to do instead. Every
other exception is displayed by IPython exactly as before.

Nothing here imports IPython: it is used only when the process already runs
one (a Jupyter kernel, or the ``ipython`` shell).
"""

from __future__ import annotations

import sys
import warnings
from types import TracebackType
from typing import Any

__all__ = ["UVICORN_RUN_HINT", "install", "is_uvicorn_run_in_a_running_loop"]

UVICORN_RUN_HINT = (
    "uvicorn.run() cannot run inside a notebook: the kernel's own event loop "
    "is already running. Use coursekit instead: `from coursekit import serve` "
    "then `server = serve(app)`; it serves the app in the background and "
    "shows links to /docs. (In a script or a terminal, run `uvicorn "
    "module:app` or `fastapi dev module.py`.)"
)

#: The functions whose failure means "uvicorn.run() in a running loop".
_UVICORN_RUNS = {("uvicorn.main", "run"), ("uvicorn.server", "run")}


def is_uvicorn_run_in_a_running_loop(
    value: BaseException, tb: TracebackType | None
) -> bool:
    """True when ``value`` is uvicorn's run() refusing a running event loop."""
    messages = f"{value} {value.__context__ or ''}"
    if not isinstance(value, RuntimeError) or "loop" not in messages:
        return False
    while tb is not None:
        frame = tb.tb_frame
        if (frame.f_globals.get("__name__"), frame.f_code.co_name) in _UVICORN_RUNS:
            return True
        tb = tb.tb_next
    return False


def _show(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: TracebackType | None,
    tb_offset: int | None = None,
) -> None:
    # IPython calls this for every RuntimeError a cell raises (set_custom_exc
    # below); it displays the error itself, and its return value is ignored.
    if is_uvicorn_run_in_a_running_loop(value, tb):
        from coursekit.serve import ServeError

        hint = ServeError(UVICORN_RUN_HINT)
        shell.showtraceback((ServeError, hint, None))
        return
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def install() -> None:
    """Register the hints with the running IPython shell, if there is one.

    Idempotent, and leaves alone a custom exception handler that someone
    else installed (IPython keeps only one).
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return
    shell = ipython.get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return
    if getattr(shell, "custom_exceptions", ()):
        return  # installed already, or someone else's handler: keep it
    shell.set_custom_exc((RuntimeError,), _show)
    # The failed uvicorn.run() also leaves a never-awaited coroutine behind,
    # whose warning would print above the hint.
    warnings.filterwarnings(
        "ignore",
        message=r"coroutine '(Loop\.shutdown_asyncgens|Server\.serve)' was never",
        category=RuntimeWarning,
    )
