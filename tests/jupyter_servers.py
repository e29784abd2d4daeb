"""Jupyter servers and kernels for tests, started the way learners meet them.

- ``hub_server``: ``jupyter server`` as JupyterHub starts it for user "ada"
  (base URL ``/user/ada/``, ``JUPYTERHUB_SERVICE_PREFIX`` set, so
  jupyter-server-proxy and the kernels it starts see the hub's environment).
- ``make_lab``: JupyterLab exactly as ``make lab`` starts it on the course.
- ``Kernel``: a kernel to run cells in, either one a Jupyter server started
  (``server.kernel()``) or a plain local one (``local_kernel()``).

Every server runs in a process group of its own with its output in a log
file (a pipe nobody reads would fill up and stall it), keeps the user's own
Jupyter config, runtime and workspace files out, and is stopped as a group.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from coursekit.process import stop_group
from coursekit.proxy import PREFIX_ENV

ROOT = Path(__file__).resolve().parents[1]
HUB_BASE_URL = "/user/ada/"  # what JupyterHub gives user "ada"
STARTUP_TIMEOUT = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any hub or proxy settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JUPYTERHUB_") and k != PREFIX_ENV
    }
    env.update(extra)
    return env


@dataclass
class JupyterServer:
    """A running Jupyter server: where it is, how to log in, what it logged."""

    origin: str  # http://127.0.0.1:{port}, the address the browser talks to
    base_url: str  # "/" locally, "/user/ada/" under the hub
    token: str
    log: Path
    runtime_dir: Path  # where it writes its kernels' connection files
    process: subprocess.Popen[bytes]
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        # The token header stands in for the hub's login cookie.
        self.client = httpx.Client(
            headers={"Authorization": f"token {self.token}"}, timeout=10
        )

    def url(self, path: str) -> str:
        """An absolute URL for a path (absolute paths as a browser resolves)."""
        return urljoin(self.origin + self.base_url, path)

    def get(self, path: str) -> httpx.Response:
        """GET a path (or absolute URL) on the server, logged in."""
        return self.client.get(self.url(path))

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @contextlib.contextmanager
    def kernel(self) -> Iterator[Kernel]:
        """A kernel started through the server's REST API, as JupyterLab does."""
        from jupyter_client import BlockingKernelClient

        started = self.client.post(self.url("api/kernels"), json={"name": "python3"})
        assert started.status_code == 201, started.text
        kernel_id = started.json()["id"]
        client = BlockingKernelClient()
        try:
            client.load_connection_file(self.runtime_dir / f"kernel-{kernel_id}.json")
            # Alive means a heartbeat within a second, by default; a kernel
            # importing its modules on a loaded machine can miss that, and
            # would be taken for dead.
            client.hb_channel.time_to_dead = 10.0
            client.start_channels()
            client.wait_for_ready(timeout=60)
            yield Kernel(client)
        finally:
            client.stop_channels()
            self.client.delete(self.url(f"api/kernels/{kernel_id}"))

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"the Jupyter server exited with {self.process.returncode}:\n"
                    + self.output()
                )
            with contextlib.suppress(httpx.TransportError):
                if self.get("api/status").status_code == 200:
                    return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the Jupyter server did not answer within {STARTUP_TIMEOUT:g} s:"
                    "\n" + self.output()
                )
            time.sleep(0.1)

    def stop(self) -> None:
        self.client.close()
        stop_group(self.process, timeout=15)


def _isolated(home: Path) -> dict[str, str]:
    """Environment keeping the user's Jupyter config and runtime files out.

    Server extensions enabled in this environment (sys-prefix config) still
    load.
    """
    return {
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
    }


def _start(
    args: list[str], *, home: Path, cwd: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], Path]:
    log = home / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the whole tree can be stopped
        )
    return process, log


@contextlib.contextmanager
def hub_server(home: Path) -> Iterator[JupyterServer]:
    """``jupyter server`` as JupyterHub runs it, rooted in an empty folder."""
    root = home / "root"
    root.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        "jupyter",
        "server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={HUB_BASE_URL}",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:  # containers and CI often run as root
        args.append("--allow-root")
    # What JupyterHub sets for the single-user server; its kernels inherit it.
    env = clean_env(JUPYTERHUB_SERVICE_PREFIX=HUB_BASE_URL, **_isolated(home))
    process, log = _start(args, home=home, cwd=root, env=env)
    server = JupyterServer(
        origin=f"http://127.0.0.1:{port}",
        base_url=HUB_BASE_URL,
        token=token,
        log=log,
        runtime_dir=home / "runtime",
        process=process,
    )
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@dataclass
class Lab(JupyterServer):
    """JupyterLab started by ``make lab``."""

    def printed_url(self) -> str:
        """The link ``make lab`` prints for the learner to open, with the token.

        Jupyter prints a token it generated in full; this one was given on
        the command line, so it prints ``token=...`` and we fill it in.
        """
        found = re.search(r"(http://127\.0\.0\.1:\d+/\S*\?token=)\S+", self.output())
        assert found, "make lab printed no link:\n" + self.output()
        return found.group(1) + self.token


@contextlib.contextmanager
def make_lab(
    home: Path, settings: dict[str, dict[str, Any]] | None = None
) -> Iterator[Lab]:
    """JupyterLab on the course, started with ``make lab``, headless.

    ``settings`` are JupyterLab user settings by plugin id, e.g.
    ``{"@jupyterlab/docmanager-extension:plugin": {"autosave": False}}``;
    they and the workspace files go to ``home``, not the user's own.
    """
    port, token = free_port(), secrets.token_hex(16)
    user_settings = home / "lab-settings"
    for plugin, values in (settings or {}).items():
        package, _, name = plugin.rpartition(":")
        file = user_settings / package / f"{name}.jupyterlab-settings"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values))
    lab_args = (
        f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token} "
        f"--LabApp.user_settings_dir={user_settings} "
        f"--LabApp.workspaces_dir={home / 'workspaces'}"
    )
    process, log = _start(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={lab_args}"],
        home=home,
        cwd=ROOT,
        env=clean_env(**_isolated(home)),
    )
    lab = Lab(
        origin=f"http://127.0.0.1:{port}",
        base_url="/",
        token=token,
        log=log,
        runtime_dir=home / "runtime",
        process=process,
    )
    checkpoints = _checkpoints()
    try:
        lab.wait_until_up()
        yield lab
    finally:
        lab.stop()
        # JupyterLab makes a checkpoint of each file it opens; the course's
        # working copy keeps only those that were there before.
        for made in _checkpoints() - checkpoints:
            made.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # still holds older ones
                made.parent.rmdir()


def _checkpoints() -> set[Path]:
    # The course's files are at most one folder deep; .venv is not searched.
    found = ROOT.glob(".ipynb_checkpoints/*")
    return {*found, *ROOT.glob("*/.ipynb_checkpoints/*")}


class Kernel:
    """A running kernel to execute cells in, as a notebook does."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def run(self, code: str, timeout: float = 60) -> tuple[str, list[dict]]:
        """Execute ``code``; return what it printed (stdout) and displayed.

        Fails the test, with the traceback, when the cell raises.
        """
        outputs: list[dict] = []
        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=outputs.append
        )
        errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
        assert reply["content"]["status"] == "ok", "\n".join(
            "\n".join(e["traceback"]) for e in errors
        )
        printed = "".join(
            m["content"]["text"]
            for m in outputs
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )
        shown = [m["content"] for m in outputs if m["msg_type"] == "display_data"]
        return printed, shown


@contextlib.contextmanager
def local_kernel() -> Iterator[Kernel]:
    """A kernel on this machine with no hub around: links are local."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(
        kernel_name="python3", cwd=str(ROOT), env=clean_env()
    )
    try:
        yield Kernel(client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
