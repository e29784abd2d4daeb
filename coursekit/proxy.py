"""Where a person's browser reaches a server that runs inside the kernel.

Locally that is the server's own address. Under JupyterHub or Binder the
browser is on another machine, and the only way in is jupyter-server-proxy,
which forwards ``{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/...`` to the port
with the prefix stripped. The app then has to know that prefix (its
``root_path``) so that Swagger UI and ReDoc ask for ``openapi.json`` through
the proxy too.
"""

from __future__ import annotations

import importlib.util
import os

#: Set this to force a prefix (e.g. ``/user/ada/``) or to ``""`` to force
#: plain local links, for set-ups the detection below gets wrong.
PREFIX_ENV = "COURSEKIT_PROXY_PREFIX"


def proxy_prefix() -> str | None:
    """The jupyter-server-proxy prefix to link through, or None for local links."""
    explicit = os.environ.get(PREFIX_ENV)
    if explicit is not None:
        return _with_slashes(explicit) if explicit.strip() else None
    hub_prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if hub_prefix and importlib.util.find_spec("jupyter_server_proxy") is not None:
        return _with_slashes(hub_prefix)
    return None


def root_path_for(port: int, prefix: str | None) -> str:
    """The ``root_path`` an app behind the proxy must use, "" when local."""
    return f"{prefix}proxy/{port}" if prefix is not None else ""


def _with_slashes(prefix: str) -> str:
    return "/" + prefix.strip().strip("/") + "/" if prefix.strip("/ ") else "/"
