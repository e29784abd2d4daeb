"""HTTP over a Unix socket with httpx, without leaking sockets.

The grader reaches a sandboxed app, which has no network, through a Unix
socket in the sandbox's folder: ``httpx.HTTPTransport(uds=...)``. httpcore
1.0 leaves the socket open when ``connect()`` fails (an app that is not, or
no longer, listening), and every such request then ends in a
``ResourceWarning``: its Unix-socket backend is replaced by one that closes
it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore._backends.sync import SyncBackend, SyncStream

__all__ = ["unix_transport"]


class _ClosingBackend(SyncBackend):
    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect(path)
        except TimeoutError as exc:
            sock.close()
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:
            sock.close()
            raise httpcore.ConnectError(exc) from exc
        return SyncStream(sock)


def unix_transport(path: str) -> httpx.HTTPTransport:
    """An httpx transport sending every request to the Unix socket ``path``.

    Plain HTTP: left at its default, each transport would load the system's
    CA bundle (tens of milliseconds) for TLS it never speaks.
    """
    transport = httpx.HTTPTransport(uds=path, verify=False)
    transport._pool._network_backend = _ClosingBackend()
    return transport
