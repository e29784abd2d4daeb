"""The code the grader runs inside a submission's kernel, after its cells.

It serves the notebook's ``app`` with ``coursekit.serve`` on a Unix socket
that the grader chose (the sandbox has no network) and prints one JSON line
behind a marker. Nothing it prints is trusted for the grade: the kernel is
the submission's, which may have replaced ``serve`` or anything else. The
checks run from the grading process against whatever answers on that
socket, and in the sandbox nothing can answer there but code the
submission wrote: the reference's later chapters are not in the sandbox.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["AgentReply", "new_marker", "parse_reply", "serve_cell"]

#: What the cell prints when the notebook never defined ``app``.
NO_APP = "no-app"

_TEMPLATE = """\
def _coursekit_grade_serve():
    namespace = globals()
    if "app" not in namespace:
        return {"error": "%(no_app)s"}
    from coursekit.serve import serve
    try:
        serve(namespace["app"], name="coursekit-grade", show=False, uds=%(socket)r)
    except BaseException as exc:
        return {"error": "serve", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    key = namespace.get("SECRET_KEY")
    return {"served": True, "secret_key": key if isinstance(key, str) else None}
import json as _coursekit_json
print(%(marker)r + _coursekit_json.dumps(_coursekit_grade_serve()))
"""


@dataclass
class AgentReply:
    """What the serve cell reported: served, or why not."""

    served: bool = False
    secret_key: str | None = None
    error: str | None = None
    #: Text from the submission (an exception's message): quote it, never
    #: show it as the grader's own words.
    detail: str = ""


def new_marker() -> str:
    """A prefix the submission cannot guess, for the line the cell prints."""
    return f"coursekit-grade-{secrets.token_hex(8)}:"


def serve_cell(marker: str, socket: str) -> str:
    """The source of the cell that serves ``app`` on ``socket`` and reports."""
    return _TEMPLATE % {"marker": marker, "no_app": NO_APP, "socket": socket}


def parse_reply(outputs: list[Any], marker: str) -> AgentReply:
    """Find the marked JSON line in the cell's outputs.

    A missing or malformed line (a kernel tampered with, a print replaced)
    comes back as ``error="no-reply"``.
    """
    for output in outputs:
        if output.get("output_type") != "stream":
            continue
        for line in str(output.get("text", "")).splitlines():
            if not line.startswith(marker):
                continue
            try:
                data = json.loads(line.removeprefix(marker))
            except json.JSONDecodeError:
                break
            if not isinstance(data, dict):
                break
            key = data.get("secret_key")
            served = data.get("served") is True
            error = data.get("error")
            return AgentReply(
                served=served,
                secret_key=key if isinstance(key, str) else None,
                error=None if served else str(error or "no-reply"),
                detail=str(data.get("detail", ""))[:500],
            )
    errors = [o for o in outputs if o.get("output_type") == "error"]
    detail = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else ""
    return AgentReply(error="no-reply", detail=detail[:500])
