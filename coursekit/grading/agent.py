"""The code the grader runs inside a submission's kernel, after its cells.

It serves the notebook's ``app`` with ``coursekit.serve`` and prints the
port as one JSON line behind a marker. Nothing it prints is trusted for the
grade: the checks run from the grading process, and the port must belong to
the kernel's own process (see ``submission``).
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
        server = serve(namespace["app"], name="coursekit-grade", show=False)
    except BaseException as exc:
        return {"error": "serve", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    key = namespace.get("SECRET_KEY")
    return {"port": server.port, "secret_key": key if isinstance(key, str) else None}
import json as _coursekit_json
print(%(marker)r + _coursekit_json.dumps(_coursekit_grade_serve()))
"""


@dataclass
class AgentReply:
    """What the serve cell reported: a port, or why there is none."""

    port: int | None = None
    secret_key: str | None = None
    error: str | None = None
    detail: str = ""


def new_marker() -> str:
    """A prefix the submission cannot guess, for the line the cell prints."""
    return f"coursekit-grade-{secrets.token_hex(8)}:"


def serve_cell(marker: str) -> str:
    """The source of the cell that serves ``app`` and prints its port."""
    return _TEMPLATE % {"marker": marker, "no_app": NO_APP}


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
            port = data.get("port")
            key = data.get("secret_key")
            return AgentReply(
                port=port if isinstance(port, int) else None,
                secret_key=key if isinstance(key, str) else None,
                error=data.get("error") if port is None else None,
                detail=str(data.get("detail", ""))[:500],
            )
    errors = [o for o in outputs if o.get("output_type") == "error"]
    detail = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else ""
    return AgentReply(error="no-reply", detail=detail[:500])
