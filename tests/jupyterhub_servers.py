"""A real JupyterHub on loopback for tests, the way a class meets the course.

``jupyterhub_class(folder, users)`` starts JupyterHub (from the venv) with
its proxy, configurable-http-proxy (``tests/hub_proxy.py`` installs it), in
``folder``: free ports on 127.0.0.1, the shared-password authenticator
(users listed in ``allowed_users``, all with ``PASSWORD``), and the simple
local spawner, which runs every user's server as the current user with a
home of its own, ``folder/home/<name>``. Each home is seeded with the
course's notebooks as nbgitpuller would leave them (``~/course/notebooks``);
the course's packages come from the venv, whose Python is the kernel.

Stopping it stops the hub, which stops the proxy and every single-user
server it started; whatever is still running in the folder after that is
killed and fails the test, so a leak is seen.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from coursekit.process import stop_group
from tests import hub_proxy, system_packages
from tests.jupyter_servers import ROOT, clean_env, free_port

#: Every user's password (the shared-password authenticator wants >= 8 chars).
PASSWORD = "class-of-2026"
#: Where the notebooks are in a user's home: nbgitpuller clones into a
#: folder named after the repository.
COURSE_FOLDER = "course"
#: A hub, its proxy and a user's JupyterLab starting on 2 busy cores.
START_TIMEOUT = 180.0

_CONFIG = """\
# Written by tests/jupyterhub_servers.py for one test run.
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.db_url = "sqlite:///{folder}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{folder}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{folder}/jupyterhub.pid"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = "{folder}/proxy.pid"
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{folder}/home/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = {timeout}
c.Spawner.http_timeout = {timeout}
"""


@dataclass
class Hub:
    """A running JupyterHub: its public address, folder and log."""

    origin: str  # http://127.0.0.1:{port}, the proxy the browser talks to
    folder: Path
    users: tuple[str, ...]
    log: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return self.origin + path

    def home(self, user: str) -> Path:
        return self.folder / "home" / user

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"JupyterHub exited with {self.process.returncode}:\n"
                    + self.output()
                )
            with contextlib.suppress(httpx.TransportError):
                # Through the proxy: up means the proxy routes to the hub.
                if httpx.get(self.url("/hub/api"), timeout=5).status_code == 200:
                    return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"JupyterHub did not answer within {START_TIMEOUT:g} s:\n"
                    + self.output()
                )
            time.sleep(0.2)


def proxy_or_skip() -> Path:
    """configurable-http-proxy; skips the test (fails where CI is set) without it."""
    found = hub_proxy.find()
    if found is None:
        message = (
            f"no configurable-http-proxy in {hub_proxy.NODE_PREFIX}: run "
            f"`python tests/hub_proxy.py` (make test does). {hub_proxy.HOW_TO_INSTALL}"
        )
        if system_packages.ci():
            pytest.fail(f"{message} (CI is set: the hub tests must run.)")
        pytest.skip(message)
    return found


def seed_home(home: Path) -> None:
    """A user's home as nbgitpuller leaves it: the course's notebooks."""
    course = home / COURSE_FOLDER
    course.mkdir(parents=True)
    shutil.copytree(
        ROOT / "notebooks",
        course / "notebooks",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "my_app*", "__pycache__"),
    )


def processes_in(folder: Path) -> dict[int, str]:
    """Processes working in ``folder`` (or below): pid -> command line.

    Every process a hub starts here does: the proxy and hub in ``folder``,
    each user's server in its home, kernels beside their notebooks.
    """
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cwd = (entry / "cwd").resolve()
            if cwd == folder or folder in cwd.parents:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(entry.name)] = command.decode(errors="replace").strip()
    return found


@contextlib.contextmanager
def jupyterhub_class(folder: Path, users: tuple[str, ...]) -> Iterator[Hub]:
    """JupyterHub for ``users`` in ``folder``; stopped, with all it started, after."""
    proxy = proxy_or_skip()
    folder = folder.resolve()
    for user in users:
        seed_home(folder / "home" / user)
    port, hub_port, proxy_api_port = free_port(), free_port(), free_port()
    config = folder / "jupyterhub_config.py"
    config.write_text(
        _CONFIG.format(
            port=port,
            hub_port=hub_port,
            proxy_api_port=proxy_api_port,
            folder=folder,
            proxy=str(proxy),
            password=PASSWORD,
            users=set(users),
            singleuser=str(Path(sys.executable).parent / "jupyterhub-singleuser"),
            # CI and containers run as root; Jupyter refuses that unless told.
            args=["--allow-root"] if os.geteuid() == 0 else [],
            timeout=int(START_TIMEOUT),
        )
    )
    log = folder / "jupyterhub.log"
    jupyterhub = Path(sys.executable).parent / "jupyterhub"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(jupyterhub), "-f", str(config)],
            cwd=folder,
            # The proxy's token, so that no other hub's proxy is taken for ours.
            env=clean_env(CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(16)),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = Hub(f"http://127.0.0.1:{port}", folder, users, log, process)
    try:
        hub.wait_until_up()
        yield hub
    finally:
        _stop(hub)


def _stop(hub: Hub) -> None:
    # SIGTERM to the hub alone: it stops the single-user servers (each in a
    # session of its own) and the proxy, then exits.
    with contextlib.suppress(ProcessLookupError):
        hub.process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        hub.process.wait(60)
    stop_group(hub.process, timeout=10)
    deadline = time.monotonic() + 15
    while (left := processes_in(hub.folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        pytest.fail(
            "the hub left processes running after it stopped:\n"
            + "\n".join(f"  {pid}: {command}" for pid, command in left.items())
        )
