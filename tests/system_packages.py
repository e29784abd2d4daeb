"""Debian packages the tests need, installed where that is safe.

``make test`` installs what is missing (Chromium for the browser tests,
bubblewrap for the grading sandbox) when this is a Debian-like machine where
we run as root (CI, containers), or, in CI, through passwordless sudo. On a
person's own machine it never uses sudo: each tool says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def ci() -> bool:
    """Whether this is CI, where every test must run rather than be skipped."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def as_root(*, allow_sudo: bool) -> list[str] | None:
    """How to run apt-get as root here without asking anyone, or None."""
    if os.geteuid() == 0:
        return []
    if allow_sudo and shutil.which("sudo"):
        probe = subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["sudo", "-n"]
    return None


def can_install(*, allow_sudo: bool) -> bool:
    """Whether apt-get can install packages here without asking anyone."""
    return (
        sys.platform == "linux"
        and shutil.which("apt-get") is not None
        and as_root(allow_sudo=allow_sudo) is not None
    )


def apt_install(
    packages: list[str], *, allow_sudo: bool
) -> subprocess.CompletedProcess[str]:
    """``apt-get install`` the packages (updating the lists once if that fails)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = [*(as_root(allow_sudo=allow_sudo) or []), "apt-get"]
    command = [*apt, "install", "-y", "-qq", "--no-install-recommends", *packages]
    result = _run(command, env)
    if result.returncode != 0:  # a fresh machine may have no package lists yet
        update = _run([*apt, "update", "-qq"], env)
        result = _run(command, env) if update.returncode == 0 else update
    return result


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
